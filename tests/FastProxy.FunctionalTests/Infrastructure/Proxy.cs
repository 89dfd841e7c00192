using System.Net;
using FastProxy.Config;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>Starts a FastProxy on 127.0.0.1:0 through the embedding API and knows its real port.</summary>
public sealed class Proxy : IAsyncDisposable
{
    private Proxy(ProxyServer server)
    {
        Server = server;
        EndPoint = server.BoundEndPoints[0];
    }

    public ProxyServer Server { get; }

    public IPEndPoint EndPoint { get; }

    public string Url => $"http://127.0.0.1:{EndPoint.Port}";

    public static async Task<Proxy> StartAsync(ProxyConfig config)
    {
        var server = new ProxyServer(config, TestLoggerFactory.FromEnvironment());
        await server.StartAsync();
        return new Proxy(server);
    }

    /// <summary>With options (a manual clock, load-balancing policies); the logger comes from the environment unless given.</summary>
    public static async Task<Proxy> StartAsync(ProxyConfig config, ProxyServerOptions options)
    {
        var server = new ProxyServer(config, options.LoggerFactory is null
            ? new ProxyServerOptions { LoggerFactory = TestLoggerFactory.FromEnvironment(), TimeProvider = options.TimeProvider, LoadBalancingPolicies = options.LoadBalancingPolicies }
            : options);
        await server.StartAsync();
        return new Proxy(server);
    }

    /// <summary>One server on 127.0.0.1:0 with one location "/" configured by <paramref name="location"/>.</summary>
    public static Task<Proxy> StartAsync(Action<LocationBuilder> location, Action<ProxyConfigBuilder>? more = null, Action<ServerBuilder>? server = null)
    {
        var builder = new ProxyConfigBuilder();
        more?.Invoke(builder);
        builder.Server(s =>
        {
            s.Listen("127.0.0.1:0");
            server?.Invoke(s);
            s.Location("/", location);
        });
        return StartAsync(builder.Build());
    }

    public Task<RawClient> ConnectAsync() => RawClient.ConnectAsync(EndPoint);

    /// <summary>Sends one request on a new connection and reads the response.</summary>
    public async Task<RawResponse> SendAsync(string request, bool headRequest = false)
    {
        await using var client = await ConnectAsync();
        await client.SendAsync(request);
        return await client.ReadResponseAsync(headRequest);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync(TimeSpan.FromSeconds(2));
    }
}
