using System.Text.RegularExpressions;

namespace FastProxy.Config;

/// <summary>
/// Turns the directive tree into a <see cref="ProxyConfig"/>: checks every directive's context, argument count and
/// value (nginx's ngx_conf_handler order and messages), collects every error instead of stopping at the first, then
/// applies nginx's http → server → location merge.
/// </summary>
internal sealed partial class ConfigBuilder
{
    private readonly List<ConfigDiagnostic> _diagnostics;
    private readonly List<string> _warnings = [];
    private readonly HostResolver _resolver = new();

    // main and events
    private readonly HashSet<string> _mainSeen = new(StringComparer.Ordinal);
    private int? _workerConnections;
    private string? _pidFile;
    private string? _errorLogPath;
    private string? _errorLogLevel;
    private TimeSpan? _shutdownTimeout;

    // http
    private SettingsDraft? _http;
    private readonly List<ServerDraft> _servers = [];
    private readonly List<UpstreamDraft> _upstreams = [];
    private readonly List<MapConfig> _maps = [];
    private readonly List<(LimitReqZoneConfig Zone, ConfDirective Directive)> _limitReqZones = [];
    private readonly List<(LimitConnZoneConfig Zone, ConfDirective Directive)> _limitConnZones = [];
    private readonly Dictionary<string, ValueTemplate> _logFormats = new(StringComparer.Ordinal)
    {
        // ngx_http_log_module's predefined format.
        ["combined"] = ValueTemplate.Parse(
            "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\""),
    };

    private readonly Dictionary<string, LogEscape> _logFormatEscapes = new(StringComparer.Ordinal);
    // access_log files: one buffer= / flush= per file (nginx: "already defined with conflicting parameters").
    private readonly Dictionary<string, (int Buffer, TimeSpan Flush)> _accessLogFiles = new(StringComparer.Ordinal);

    // Variables: every template with where it was written, checked once all maps and captures are known.
    private readonly List<(ValueTemplate Template, ConfDirective Directive)> _templates = [];
    private readonly HashSet<string> _definedVariables = new(StringComparer.Ordinal);
    private readonly HashSet<string> _setVariables = new(StringComparer.Ordinal);

    private readonly string _mainFile;
    private bool _sawEvents;

    public ConfigBuilder(List<ConfigDiagnostic> diagnostics, string mainFile)
    {
        _diagnostics = diagnostics;
        _mainFile = mainFile;
    }

    public ProxyConfig? Build(List<ConfDirective> root)
    {
        Walk(root, ConfContext.Main, scope: null);
        if (!_sawEvents && !_diagnostics.Exists(d => d.IsError))
        {
            // ngx_event_init_conf; nginx names no line for it.
            _diagnostics.Add(new ConfigDiagnostic(_mainFile, 0, "no \"events\" section in configuration", true));
        }
        var config = Finish();
        return _diagnostics.Exists(d => d.IsError) ? null : config;
    }

    // ---- diagnostics -------------------------------------------------------------------------------------------

    private void Error(ConfDirective d, string message) => _diagnostics.Add(new ConfigDiagnostic(d.File, d.Line, message, true));

    private void Warn(ConfDirective d, string message)
    {
        _diagnostics.Add(new ConfigDiagnostic(d.File, d.Line, message, false));
        _warnings.Add($"{d.File}:{d.Line}: {message}");
    }

    private void NotActedOn(ConfDirective d, string? why = null) =>
        Warn(d, why is null ? $"\"{d.Name}\" directive is parsed but not acted on" : $"\"{d.Name}\" directive is parsed but not acted on: {why}");

    private void InvalidValue(ConfDirective d) => Error(d, $"\"{d.Name}\" directive invalid value");

    private void InvalidParameter(ConfDirective d, string arg) => Error(d, $"invalid parameter \"{arg}\"");

    // ---- walking -----------------------------------------------------------------------------------------------

    private void Walk(List<ConfDirective> directives, ConfContext context, object? scope)
    {
        foreach (var d in directives)
        {
            var spec = DirectiveTable.Find(d.Name, context);
            if (spec is null)
            {
                Error(d, $"unknown directive \"{d.Name}\"");
                continue;
            }
            if ((spec.Contexts & context) == 0)
            {
                Error(d, $"\"{d.Name}\" directive is not allowed here");
                continue;
            }
            if (spec.Block && d.Block is null)
            {
                Error(d, $"directive \"{d.Name}\" has no opening \"{{\"");
                continue;
            }
            if (!spec.Block && d.Block is not null)
            {
                Error(d, $"directive \"{d.Name}\" is not terminated by \";\"");
                continue;
            }
            if (d.Args.Count < spec.MinArgs || d.Args.Count > spec.MaxArgs)
            {
                Error(d, $"invalid number of arguments in \"{d.Name}\" directive");
                continue;
            }
            if (!spec.Multi)
            {
                var seen = scope switch
                {
                    SettingsDraft s => s.Seen,
                    ServerDraft s => s.Settings.Seen,
                    LocationDraft l => l.Settings.Seen,
                    UpstreamDraft u => u.Seen,
                    _ => _mainSeen,
                };
                if (!seen.Add(d.Name))
                {
                    Error(d, $"\"{d.Name}\" directive is duplicate");
                    continue;
                }
            }
            switch (spec.Support)
            {
                case DirectiveSupport.Unsupported:
                    Error(d, $"\"{d.Name}\" directive is not supported by FastProxy: {spec.Note}");
                    continue;
                case DirectiveSupport.Warned:
                    Warned(d, context, scope);
                    continue;
            }
            Dispatch(d, context, scope);
        }
    }

    /// <summary>Directives accepted without effect; some still define something the rest of the file relies on.</summary>
    private void Warned(ConfDirective d, ConfContext context, object? scope)
    {
        switch (d.Name)
        {
            case "set":
                // nginx's "set" defines the variable; FastProxy does not evaluate it, so it stays empty.
                if (d.Args[0].Length > 1 && d.Args[0][0] == '$')
                {
                    _setVariables.Add(d.Args[0].Substring(1));
                }
                else
                {
                    Error(d, $"invalid variable name \"{d.Args[0]}\"");
                    return;
                }
                NotActedOn(d, "the variable stays empty");
                return;
            case "proxy_cache_path" or "proxy_cache" or "proxy_cache_key" or "proxy_cache_valid":
                if (d.Name == "proxy_cache_key")
                {
                    AddTemplate(d, d.Args[0]);
                }
                NotActedOn(d, "responses are not cached yet");
                return;
            case "types":
                NotActedOn(d);
                return;
            case "error_log":
                NotActedOn(d, "only the main-level error_log is used");
                return;
            case "keepalive_time" when context == ConfContext.Upstream:
                NotActedOn(d);
                return;
        }
        NotActedOn(d);
    }

    private void Dispatch(ConfDirective d, ConfContext context, object? scope)
    {
        switch (context)
        {
            case ConfContext.Main:
                Main(d);
                return;
            case ConfContext.Events:
                if (d.Name == "worker_connections")
                {
                    if (ConfigValues.TryParseInt(d.Args[0], out int n) && n > 0)
                    {
                        _workerConnections = n;
                    }
                    else
                    {
                        Error(d, $"invalid number \"{d.Args[0]}\"");
                    }
                }
                return;
            case ConfContext.Upstream:
                Upstream(d, (UpstreamDraft)scope!);
                return;
        }
        var settings = scope switch
        {
            SettingsDraft s => s,
            ServerDraft s => s.Settings,
            LocationDraft l => l.Settings,
            _ => throw new InvalidOperationException("no settings scope"),
        };
        switch (d.Name)
        {
            case "server":
                Server(d);
                return;
            case "upstream":
                UpstreamBlock(d);
                return;
            case "map":
                Map(d);
                return;
            case "location":
                Location(d, scope as ServerDraft, scope as LocationDraft);
                return;
            case "listen":
                Listen(d, (ServerDraft)scope!);
                return;
            case "server_name":
                foreach (var name in d.Args)
                {
                    ((ServerDraft)scope!).Names.Add((name, d));
                }
                return;
            case "limit_req_zone":
                LimitReqZone(d);
                return;
            case "limit_conn_zone":
                LimitConnZone(d);
                return;
            case "log_format":
                LogFormat(d);
                return;
            case "error_log":
                NotActedOn(d, "only the main-level error_log is used");
                return;
        }
        Setting(d, context, settings, scope as LocationDraft);
    }

    private void Main(ConfDirective d)
    {
        switch (d.Name)
        {
            case "events":
                _sawEvents = true;
                Walk(d.Block!, ConfContext.Events, scope: null);
                return;
            case "http":
                if (_http is not null)
                {
                    Error(d, "\"http\" directive is duplicate");
                    return;
                }
                _http = new SettingsDraft(ConfContext.Http);
                Walk(d.Block!, ConfContext.Http, _http);
                return;
            case "pid":
                _pidFile = d.Args[0];
                return;
            case "error_log":
                if (_errorLogPath is not null || _errorLogLevel is not null)
                {
                    Warn(d, "only the first main-level \"error_log\" is used");
                    return;
                }
                _errorLogPath = d.Args[0] == "stderr" ? null : d.Args[0];
                _errorLogLevel = "error";
                if (d.Args.Count == 2)
                {
                    if (d.Args[1] is not ("debug" or "info" or "notice" or "warn" or "error" or "crit" or "alert" or "emerg"))
                    {
                        Error(d, $"invalid log level \"{d.Args[1]}\"");
                        return;
                    }
                    _errorLogLevel = d.Args[1];
                }
                return;
            case "worker_shutdown_timeout":
                if (ConfigValues.TryParseTime(d.Args[0], out var t))
                {
                    _shutdownTimeout = t;
                }
                else
                {
                    InvalidValue(d);
                }
                return;
        }
    }

    private void Server(ConfDirective d)
    {
        var server = new ServerDraft(d);
        _servers.Add(server);
        Walk(d.Block!, ConfContext.Server, server);
    }

    // ---- values ------------------------------------------------------------------------------------------------

    private ValueTemplate? AddTemplate(ConfDirective d, string text)
    {
        if (!ValueTemplate.TryParse(text, out var template, out var error))
        {
            Error(d, error!);
            return null;
        }
        if (template.HasVariables)
        {
            _templates.Add((template, d));
        }
        return template;
    }

    private TimeSpan? Time(ConfDirective d, string text, bool secondsOnly = false)
    {
        if (ConfigValues.TryParseTime(text, out var t, secondsOnly))
        {
            return t;
        }
        InvalidValue(d);
        return null;
    }

    private long? Size(ConfDirective d, string text)
    {
        if (ConfigValues.TryParseSize(text, out long n))
        {
            return n;
        }
        InvalidValue(d);
        return null;
    }

    private bool? Flag(ConfDirective d)
    {
        var flag = ConfigValues.ParseFlag(d.Args[0]);
        if (flag is null)
        {
            Error(d, $"invalid value \"{d.Args[0]}\" in \"{d.Name}\" directive, it must be \"on\" or \"off\"");
        }
        return flag;
    }

    private int? Number(ConfDirective d, string text)
    {
        if (ConfigValues.TryParseInt(text, out int n))
        {
            return n;
        }
        Error(d, $"\"{d.Name}\" directive invalid number");
        return null;
    }

    /// <summary>Compiles an nginx regex the way routing will (<see cref="Routing.NginxRegex"/>); named groups become variables.</summary>
    internal Regex? CompileRegex(ConfDirective d, string pattern, bool ignoreCase)
    {
        Regex regex;
        try
        {
            regex = Routing.NginxRegex.Create(pattern, ignoreCase);
        }
        catch (ArgumentException e)
        {
            Error(d, $"invalid regular expression \"{pattern}\": {e.Message}");
            return null;
        }
        foreach (var name in regex.GetGroupNames())
        {
            if (!int.TryParse(name, out _))
            {
                _definedVariables.Add(name);
            }
        }
        return regex;
    }
}
