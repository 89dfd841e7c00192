using System.Collections.Concurrent;
using System.Net;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>Reloading under traffic: the configuration swaps atomically and no request fails.</summary>
public sealed class ReloadTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fp-reload-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Generation <paramref name="generation"/>: even ones route to A, odd ones to B, and say which they are.</summary>
    private NginxTestConfig Generation(int generation, TestBackend a, TestBackend b) => NginxTestConfig.Load($$"""
        events { }
        http {
            access_log off;
            server {
                listen 127.0.0.1:8001;
                location / {
                    proxy_pass http://{{(generation % 2 == 0 ? a : b).Address}};
                    proxy_set_header X-Generation {{generation}};
                }
            }
        }
        """, Path.Combine(_dir, "reload.conf"), _dir);

    /// <summary>
    /// 20 reloads alternate the route between two backends while keep-alive connections and new connections send
    /// requests without pause. "In force" is defined by the reload call: a request whose sending starts after
    /// ReloadAsync(k) returned must be routed by generation k or a later one, and no request can be routed by a
    /// generation whose reload had not started when its response arrived. Each response names the generation that
    /// routed it (the backend echoes the X-Generation that generation sets) and the backend must be that generation's.
    /// </summary>
    [Fact]
    public async Task ReloadAsync_TwentyTimesUnderLoad_NoFailureAndEveryResponseFromRouteInForce()
    {
        await using var a = new TestBackend((r, c) => c.RespondAsync(200, "A " + r.Header("X-Generation")));
        await using var b = new TestBackend((r, c) => c.RespondAsync(200, "B " + r.Header("X-Generation")));
        var first = Generation(0, a, b);
        await using var proxy = await Proxy.StartAsync(first.Config);
        var endPoint = first.EndPoint(proxy.Server, 8001);

        int completed = 0;  // reloads that returned: generation in force for requests sent from now on
        int started = 0;    // reloads begun: no response can come from a later generation
        long responses = 0;
        var failures = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();

        async Task CheckAsync(RawClient client, string target)
        {
            int floor = Volatile.Read(ref completed);
            await client.SendAsync($"GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
            var response = await client.ReadResponseAsync();
            int ceiling = Volatile.Read(ref started);
            var parts = response.BodyText.Split(' ');
            if (response.Status != 200 || parts.Length != 2 || !int.TryParse(parts[1], out int generation))
            {
                failures.Enqueue($"{target}: {response.Status} {response.BodyText}");
                return;
            }
            string expectedBackend = generation % 2 == 0 ? "A" : "B";
            if (generation < floor || generation > ceiling || parts[0] != expectedBackend)
            {
                failures.Enqueue($"{target}: generation {generation} from {parts[0]}, in force {floor}..{ceiling}");
            }
            Interlocked.Increment(ref responses);
        }

        async Task KeepAliveLoopAsync(int id)
        {
            await using var client = await RawClient.ConnectAsync(endPoint);
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                await CheckAsync(client, $"/keepalive/{id}/{i}");
            }
        }

        async Task NewConnectionLoopAsync(int id)
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                await using var client = await RawClient.ConnectAsync(endPoint);
                await CheckAsync(client, $"/fresh/{id}/{i}");
            }
        }

        var clients = new List<Task>();
        for (int i = 0; i < 4; i++)
        {
            clients.Add(Task.Run(() => KeepAliveLoopAsync(i)));
        }
        for (int i = 0; i < 2; i++)
        {
            clients.Add(Task.Run(() => NewConnectionLoopAsync(i)));
        }

        for (int generation = 1; generation <= 20; generation++)
        {
            // Some traffic under every generation before the next reload.
            long before = Interlocked.Read(ref responses);
            await Waits.UntilAsync(() => Interlocked.Read(ref responses) >= before + 20 || clients.Any(t => t.IsFaulted),
                $"traffic under generation {generation - 1}", TimeSpan.FromSeconds(30));
            Volatile.Write(ref started, generation);
            await proxy.Server.ReloadAsync(Generation(generation, a, b).Config);
            Volatile.Write(ref completed, generation);
        }
        long last = Interlocked.Read(ref responses);
        await Waits.UntilAsync(() => Interlocked.Read(ref responses) >= last + 20 || clients.Any(t => t.IsFaulted),
            "traffic under the last generation", TimeSpan.FromSeconds(30));
        stop.Cancel();
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(failures);
        Assert.True(Interlocked.Read(ref responses) >= 21 * 20);
        // Both backends served, and the keep-alive connections lived through every reload.
        Assert.True(a.Requests.Count > 0 && b.Requests.Count > 0);
    }

    [Fact]
    public async Task ReloadAsync_InvalidUnderLoad_OldConfigurationKeepsServing()
    {
        await using var a = new TestBackend((r, c) => c.RespondAsync(200, "A " + r.Header("X-Generation")));
        await using var b = new TestBackend((r, c) => c.RespondAsync(200, "B " + r.Header("X-Generation")));
        var first = Generation(0, a, b);
        await using var proxy = await Proxy.StartAsync(first.Config);
        await using var client = await RawClient.ConnectAsync(first.EndPoint(proxy.Server, 8001));
        var invalid = first.Config with
        {
            Servers = [first.Config.Servers[0] with { Listens = [] }],
        };

        await Assert.ThrowsAsync<ArgumentException>(() => proxy.Server.ReloadAsync(invalid));

        await client.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.Equal("A 0", (await client.ReadResponseAsync()).BodyText);
        Assert.Equal("A 0", (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n")).BodyText);
    }
}
