using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using FastProxy.Config;

namespace FastProxy.Host;

/// <summary>
/// The <c>fastproxy</c> command, nginx's command line: <c>-c FILE</c> runs a configuration, <c>-t</c>/<c>-T</c> test
/// it (and dump it), <c>-s reload|stop|quit|reopen</c> signals the running instance through its pid file, <c>-v</c>
/// prints the version. Signals: SIGHUP reloads, SIGTERM/SIGINT/SIGQUIT stop gracefully, SIGUSR1 reopens the log.
/// </summary>
internal static class Program
{
    private const string Usage = """
        Usage: fastproxy [-?hvVtTq] [-s signal] [-p prefix] [-c filename]

        Options:
          -?,-h         : this help
          -v, -V        : show version and exit
          -t            : test configuration and exit
          -T            : test configuration, dump it and exit
          -q            : suppress non-error messages during configuration testing
          -s signal     : send signal to the running instance: stop, quit, reopen, reload
          -p prefix     : set prefix path for relative log paths (default: the executable's folder)
          -c filename   : set configuration file (default: conf/fastproxy.conf next to the executable)
        """;

    private static async Task<int> Main(string[] args)
    {
        // Socket completions run on the epoll threads (one per core), nginx's event-loop-per-core model, instead of
        // being handed to the thread pool: measured 38k → 66k proxied requests/s on one core (docs/architecture.md).
        // Safe because nothing on the data path blocks. Must be set before the first socket exists; an operator's own
        // setting (e.g. 0) wins.
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }
        if (!CommandLine.TryParse(args, out var options, out string? error))
        {
            Console.Error.WriteLine($"fastproxy: {error}");
            Console.Error.WriteLine(Usage);
            return 1;
        }
        if (options.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }
        if (options.Version)
        {
            Console.WriteLine("fastproxy version: fastproxy/" + Version);
            return 0;
        }

        string configPath = Path.GetFullPath(options.ConfigPath ?? Path.Combine(AppContext.BaseDirectory, "conf", "fastproxy.conf"));
        // nginx's prefix: relative access_log / error_log paths (the default logs/access.log too) are under it.
        string prefix = Path.GetFullPath(options.Prefix ?? AppContext.BaseDirectory);
        if (options.Signal is { } signal)
        {
            return SendSignal(signal, configPath);
        }

        var result = NginxConfigLoader.LoadFile(configPath);
        var errors = new List<string>();
        if (result.Config is { } loaded)
        {
            foreach (var message in ProxyServer.Validate(loaded))
            {
                errors.Add($"{configPath}: {message}");
            }
        }
        if (options.Test || options.Dump)
        {
            if (result.Config is { } tested && errors.Count == 0)
            {
                // nginx -t opens (and so creates) the log files: a file that cannot be opened fails the test.
                foreach (string file in FastProxy.Diagnostics.AccessLogRegistry.Files(tested with { Prefix = prefix }))
                {
                    using var opened = FastProxy.Diagnostics.AppendFile.Open(file, out string? openError);
                    if (opened is null)
                    {
                        errors.Add($"{configPath}: open() \"{file}\" failed ({openError})");
                    }
                }
            }
            return Test(configPath, result, errors, options);
        }
        PrintDiagnostics(result, errors, quiet: false);
        if (result.Config is not { } config || errors.Count > 0)
        {
            return 1;
        }
        return await RunAsync(config with { Prefix = prefix }, configPath, prefix);
    }

    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    internal static string Version => typeof(Program).Assembly.GetName().Version!.ToString(3);

    /// <summary><c>-t</c> / <c>-T</c>: nginx -t's messages, every diagnostic as "file:line: message".</summary>
    private static int Test(string configPath, ConfigLoadResult result, List<string> errors, CommandLine options)
    {
        PrintDiagnostics(result, errors, options.Quiet);
        bool ok = result.Success && errors.Count == 0;
        if (ok)
        {
            if (!options.Quiet)
            {
                Console.Error.WriteLine($"fastproxy: the configuration file {configPath} syntax is ok");
                Console.Error.WriteLine($"fastproxy: configuration file {configPath} test is successful");
            }
            if (options.Dump)
            {
                // nginx -T: every file read (the main one and each include), under "# configuration file PATH:".
                Console.Write(NginxConfigLoader.Dump(result));
            }
            return 0;
        }
        Console.Error.WriteLine($"fastproxy: configuration file {configPath} test failed");
        return 1;
    }

    private static void PrintDiagnostics(ConfigLoadResult result, List<string> errors, bool quiet)
    {
        var printed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var diagnostic in result.Diagnostics)
        {
            if ((diagnostic.IsError || !quiet) && printed.Add(diagnostic.ToString()))
            {
                Console.Error.WriteLine(diagnostic.ToString());
            }
        }
        if (!quiet && result.Config is { } config)
        {
            foreach (var warning in config.Warnings)
            {
                if (printed.Add(warning))
                {
                    Console.Error.WriteLine(warning);
                }
            }
        }
        foreach (var error in errors)
        {
            Console.Error.WriteLine(error);
        }
    }

    /// <summary>
    /// The pid file: the configuration's <c>pid</c> (relative to the configuration's folder), else the configuration
    /// file's name with ".pid" next to it (conf/fastproxy.conf → conf/fastproxy.pid), so that two instances with two
    /// configurations never share one.
    /// </summary>
    internal static string PidFilePath(ProxyConfig? config, string configPath)
    {
        if (config?.PidFile is { Length: > 0 } pid)
        {
            return Path.IsPathRooted(pid) ? pid : Path.Combine(Path.GetDirectoryName(configPath)!, pid);
        }
        return Path.ChangeExtension(configPath, ".pid");
    }

    private static int SendSignal(string signal, string configPath)
    {
        int number = signal switch
        {
            "reload" => Signals.SIGHUP,
            "stop" => Signals.SIGTERM,
            "quit" => Signals.SIGQUIT,
            "reopen" => Signals.SIGUSR1,
            _ => 0,
        };
        if (number == 0)
        {
            Console.Error.WriteLine($"fastproxy: invalid option: \"-s {signal}\"");
            return 1;
        }
        // nginx reads the configuration to find the pid file; so do we (a broken file still has a default path).
        var config = File.Exists(configPath) ? NginxConfigLoader.LoadFile(configPath).Config : null;
        string pidPath = PidFilePath(config, configPath);
        if (!File.Exists(pidPath) || !int.TryParse(File.ReadAllText(pidPath).Trim(), out int pid))
        {
            Console.Error.WriteLine($"fastproxy: [error] invalid PID number \"\" in \"{pidPath}\"");
            return 1;
        }
        int errno = Signals.Send(pid, number);
        if (errno != 0)
        {
            Console.Error.WriteLine($"fastproxy: [alert] kill({pid}, {number}) failed ({errno})");
            return 1;
        }
        return 0;
    }

    private static async Task<int> RunAsync(ProxyConfig config, string configPath, string prefix)
    {
        using var log = new ErrorLog(ErrorLog.ResolvePath(config.ErrorLogPath, prefix), config.ErrorLogLevel);
        ProxyServer server;
        try
        {
            // A standalone proxy owns its process: it hands a burst's memory back once the burst has passed.
            server = new ProxyServer(config, new ProxyServerOptions { LoggerFactory = log, ReturnIdleMemory = true });
        }
        catch (ArgumentException e)
        {
            // Also the access-log files that cannot be opened (nginx: "open() ... failed" at start).
            Console.Error.WriteLine($"fastproxy: [emerg] {e.Message}");
            return 1;
        }

        // Signals are handled from now on (a SIGHUP's default action would kill the process), queued until the loop
        // below reads them.
        Signals.RestoreDefaultDisposition(Signals.SIGINT);
        Signals.RestoreDefaultDisposition(Signals.SIGQUIT);
        var signals = Channel.CreateUnbounded<PosixSignal>();
        var registrations = new List<PosixSignalRegistration>();
        foreach (var s in (ReadOnlySpan<PosixSignal>)[PosixSignal.SIGHUP, PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT, (PosixSignal)Signals.SIGUSR1])
        {
            registrations.Add(PosixSignalRegistration.Create(s, context =>
            {
                // Handled here: the runtime's default (terminate) must not run.
                context.Cancel = true;
                signals.Writer.TryWrite(context.Signal);
            }));
        }

        // The pid file exists before the first connection is accepted, so that whoever sees the port open can signal
        // the process; it is removed again when start-up fails.
        string pidPath = PidFilePath(config, configPath);
        try
        {
            File.WriteAllText(pidPath, Environment.ProcessId + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"fastproxy: [emerg] open() \"{pidPath}\" failed ({e.Message})");
            DisposeAll(registrations);
            return 1;
        }
        try
        {
            await server.StartAsync();
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"fastproxy: [emerg] bind() failed ({(int)e.SocketErrorCode}: {e.Message})");
            File.Delete(pidPath);
            DisposeAll(registrations);
            return 1;
        }

        try
        {
            TimeSpan? drain;
            while (true)
            {
                var signal = await signals.Reader.ReadAsync();
                if (signal == PosixSignal.SIGHUP)
                {
                    Reload(server, configPath, prefix, log);
                }
                else if (signal == (PosixSignal)Signals.SIGUSR1)
                {
                    // Log rotation: the files were moved away; open new ones under the configured names.
                    log.Reopen();
                    server.ReopenLogs();
                    log.Log(Microsoft.Extensions.Logging.LogLevel.Information, default, "reopening logs", null, static (s, _) => s);
                }
                else
                {
                    // nginx: QUIT is the graceful shutdown (requests in flight finish, up to the shutdown timeout);
                    // TERM and INT the fast one (connections closed at once).
                    drain = signal == PosixSignal.SIGQUIT ? null : TimeSpan.Zero;
                    break;
                }
            }
            await server.StopAsync(drain);
            if (Environment.GetEnvironmentVariable("FASTPROXY_GC_STATS") is { Length: > 0 })
            {
                // For load runs: how much the process allocated and collected over its life (DESIGN.md: steady
                // state allocates nothing per request; this is the whole-process check).
                Console.Error.WriteLine($"fastproxy: gc gen0={GC.CollectionCount(0)} gen1={GC.CollectionCount(1)} gen2={GC.CollectionCount(2)} " +
                    $"allocated={GC.GetTotalAllocatedBytes()} bytes");
            }
            return 0;
        }
        finally
        {
            DisposeAll(registrations);
            try
            {
                File.Delete(pidPath);
            }
            catch (IOException)
            {
            }
        }
    }

    private static void DisposeAll(List<PosixSignalRegistration> registrations)
    {
        foreach (var registration in registrations)
        {
            registration.Dispose();
        }
    }

    /// <summary>SIGHUP: load and check the file again; swap when valid, keep running on the old one when not.</summary>
    private static void Reload(ProxyServer server, string configPath, string prefix, ErrorLog log)
    {
        var result = NginxConfigLoader.LoadFile(configPath);
        foreach (var diagnostic in result.Diagnostics)
        {
            log.Log(diagnostic.IsError ? Microsoft.Extensions.Logging.LogLevel.Error : Microsoft.Extensions.Logging.LogLevel.Warning,
                default, diagnostic.ToString(), null, static (s, _) => s);
        }
        if (result.Config is not { } config)
        {
            log.Log(Microsoft.Extensions.Logging.LogLevel.Error, default, $"reload of {configPath} failed: the running configuration stays", null, static (s, _) => s);
            return;
        }
        // TryReload logs its own outcome.
        if (server.TryReload(config with { Prefix = prefix }, out _))
        {
            // error_log follows the new file, as nginx's new cycle opens its log.
            log.Reconfigure(ErrorLog.ResolvePath(config.ErrorLogPath, prefix), config.ErrorLogLevel);
        }
    }
}

/// <summary>The parsed command line (nginx's flags; several may be combined, as in <c>-tq</c>).</summary>
internal sealed class CommandLine
{
    public string? ConfigPath { get; private set; }
    public bool Test { get; private set; }
    public bool Dump { get; private set; }
    public bool Quiet { get; private set; }
    public bool Version { get; private set; }
    public bool Help { get; private set; }
    public string? Signal { get; private set; }
    public string? Prefix { get; private set; }

    public static bool TryParse(string[] args, out CommandLine options, out string? error)
    {
        options = new CommandLine();
        error = null;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (arg == "--version")
            {
                options.Version = true;
                continue;
            }
            if (arg == "--help")
            {
                options.Help = true;
                continue;
            }
            if (arg.Length < 2 || arg[0] != '-')
            {
                error = $"invalid option: \"{arg}\"";
                return false;
            }
            for (int j = 1; j < arg.Length; j++)
            {
                char flag = arg[j];
                switch (flag)
                {
                    case 't': options.Test = true; break;
                    case 'T': options.Dump = true; break;
                    case 'q': options.Quiet = true; break;
                    case 'v':
                    case 'V': options.Version = true; break;
                    case 'h':
                    case '?': options.Help = true; break;
                    case 'c':
                    case 'p':
                    case 's':
                    {
                        // The value is the rest of this argument or the next one (nginx accepts both).
                        string? value = j + 1 < arg.Length ? arg[(j + 1)..] : i + 1 < args.Length ? args[++i] : null;
                        if (value is null)
                        {
                            error = $"option \"-{flag}\" requires " + (flag switch { 'c' => "file name", 'p' => "directory name", _ => "signal name" });
                            return false;
                        }
                        if (flag == 'c')
                        {
                            options.ConfigPath = value;
                        }
                        else if (flag == 'p')
                        {
                            options.Prefix = value;
                        }
                        else
                        {
                            options.Signal = value;
                        }
                        j = arg.Length;
                        break;
                    }
                    default:
                        error = $"invalid option: \"{arg}\"";
                        return false;
                }
            }
        }
        return true;
    }
}
