using System.Net;
using FastProxy.Config;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>Configurations written in nginx syntax for functional tests: "listen 127.0.0.1:1" means a free port.</summary>
public static class NginxConf
{
    /// <summary>
    /// Loads "events {} http { HTTP }" and moves every listen on port 1 to port 0 (the loader, like nginx, refuses
    /// port 0). Access logs are off unless the text turns them on.
    /// </summary>
    public static ProxyConfig Load(string http)
    {
        var result = NginxConfigLoader.LoadText("events { }\nhttp {\naccess_log off;\n" + http + "\n}\n",
            Path.Combine(Path.GetTempPath(), "fastproxy-functional.conf"));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var config = result.Config!;
        return config with
        {
            Servers = [.. config.Servers.Select(s => s with
            {
                Listens = [.. s.Listens.Select(l => l.EndPoint.Port == 1 ? l with { EndPoint = new IPEndPoint(l.EndPoint.Address, 0) } : l)],
            })],
        };
    }

    /// <summary>Starts a proxy with one server (listening on a free port) whose body is <paramref name="server"/>.</summary>
    public static Task<Proxy> StartAsync(string server, string http = "") =>
        Proxy.StartAsync(Load(http + "\nserver {\nlisten 127.0.0.1:1;\n" + server + "\n}"));
}
