using System.Net;
using FastProxy.Config;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>
/// An nginx-syntax configuration loaded for an in-process test. nginx (and the loader) refuse <c>listen ...:0</c>, so
/// each distinct listen address of the file is moved to its own loopback address with port 0 (127.0.0.1, 127.0.0.2,
/// ...): the kernel picks free ports, servers that shared an address still share one, and <see cref="EndPoint"/> finds the
/// real port from the port written in the file (<see cref="EndPoint"/>).
/// </summary>
public sealed class NginxTestConfig
{
    private readonly Dictionary<IPEndPoint, IPEndPoint> _moved;

    private NginxTestConfig(ProxyConfig config, ConfigLoadResult result, Dictionary<IPEndPoint, IPEndPoint> moved)
    {
        Config = config;
        Result = result;
        _moved = moved;
    }

    public ProxyConfig Config { get; }

    public ConfigLoadResult Result { get; }

    /// <summary>Loads <paramref name="text"/> as the file <paramref name="path"/>; relative log paths go under <paramref name="prefix"/>.</summary>
    public static NginxTestConfig Load(string text, string path, string prefix)
    {
        var result = NginxConfigLoader.LoadText(text, path);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var moved = new Dictionary<IPEndPoint, IPEndPoint>();
        var servers = new List<ServerConfig>();
        foreach (var server in result.Config!.Servers)
        {
            var listens = new List<ListenConfig>();
            foreach (var listen in server.Listens)
            {
                if (!moved.TryGetValue(listen.EndPoint, out var to))
                {
                    to = new IPEndPoint(IPAddress.Parse($"127.0.0.{moved.Count + 1}"), 0);
                    moved[listen.EndPoint] = to;
                }
                listens.Add(listen with { EndPoint = to });
            }
            servers.Add(server with { Listens = listens });
        }
        return new NginxTestConfig(result.Config with { Servers = servers, Prefix = prefix }, result, moved);
    }

    /// <summary>The address a running proxy listens on for the file's <c>listen</c> with port <paramref name="filePort"/>.</summary>
    public IPEndPoint EndPoint(ProxyServer server, int filePort)
    {
        var configured = _moved.Single(m => m.Key.Port == filePort).Value;
        return server.GetBoundEndPoint(configured) ?? throw new InvalidOperationException($"nothing listens for port {filePort}");
    }
}
