using System.Collections.Concurrent;
using System.Net;
using System.Text;
using FastProxy.Config;
using FastProxy.FunctionalTests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace FastProxy.FunctionalTests;

/// <summary>
/// limit_req, limit_conn and realip in the request path, through real sockets, with the proxy's clock injected: time
/// only moves when a test advances it, so every count is exact and nothing sleeps.
/// </summary>
public sealed class RateLimitTests
{
    private static readonly IPAddress SecondClient = IPAddress.Parse("127.0.0.2");

    private static string Get(string path, string extra = "") => $"GET {path} HTTP/1.1\r\nHost: a\r\n{extra}\r\n";

    /// <summary>The reference 04-rate-limit.conf (the copy the config tests use), listening on a free port, proxying to <paramref name="backend"/>.</summary>
    private static string ReferenceConfig(TestBackend backend)
    {
        var path = Path.Combine(FastProxyProcess.RepositoryRoot, "tests", "FastProxy.Core.Tests", "Config", "Fixtures", "examples", "04-rate-limit.conf");
        return File.ReadAllText(path)
            .Replace("127.0.0.1:18080", "127.0.0.1:0", StringComparison.Ordinal)
            .Replace("127.0.0.1:18081", backend.Address, StringComparison.Ordinal);
    }

    /// <summary>
    /// A backend answering 200 in one write (head and body together: with two small writes Nagle's algorithm on the
    /// backend socket waits for the proxy's delayed ACK, 40 ms per pipelined request).
    /// </summary>
    private static TestBackend Backend() => new((request, connection) =>
        connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));

    private static string Http(string body) => "events { }\nhttp {\n" + body + "\n}\n";

    private static async Task<List<RawResponse>> PipelineAsync(RawClient client, string request, int count)
    {
        await client.SendAsync(string.Concat(Enumerable.Repeat(request, count)));
        var responses = new List<RawResponse>(count);
        for (int i = 0; i < count; i++)
        {
            responses.Add(await client.ReadResponseAsync());
        }
        return responses;
    }

    private static async Task<RawResponse> SendAsync(IPEndPoint endPoint, string request, IPAddress? source = null)
    {
        await using var client = source is null ? await RawClient.ConnectAsync(endPoint) : await RawClient.ConnectAsync(endPoint, source);
        await client.SendAsync(request);
        return await client.ReadResponseAsync();
    }

    // ---- 04-rate-limit.conf ------------------------------------------------------------------------------------

    [Fact]
    public async Task ReferenceConfig_FortyRequestsAtOnce_TwentyOnePassNineteenGet429WithRetryAfter()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(ReferenceConfig(backend));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);

        // The clock does not move: all 40 arrive in the same millisecond, pipelined on one connection.
        var responses = await PipelineAsync(client, Get("/api/items"), 40);

        Assert.Equal(Enumerable.Repeat(200, 21).Concat(Enumerable.Repeat(429, 19)), responses.Select(r => r.Status));
        Assert.All(responses.Skip(21), r => Assert.Equal("1", r.Header("Retry-After")));
        Assert.All(responses.Skip(21), r => Assert.Contains("429 Too Many Requests", r.BodyText, StringComparison.Ordinal));
        Assert.Equal(21, backend.Requests.Count);

        // 1 s at 10r/s leaks 10 requests: 10 more pass, the 11th is over the burst again.
        proxy.Clock.Advance(TimeSpan.FromSeconds(1));
        responses = await PipelineAsync(client, Get("/api/items"), 11);

        Assert.Equal(Enumerable.Repeat(200, 10).Append(429), responses.Select(r => r.Status));
        Assert.Equal(31, backend.Requests.Count);
        var log = proxy.Logs.Where(l => l.Message.StartsWith("limiting requests", StringComparison.Ordinal)).ToList();
        Assert.Equal(20, log.Count);
        Assert.All(log, l => Assert.Equal(LogLevel.Error, l.Level));
        Assert.StartsWith("limiting requests, excess: 21.000 by zone \"api_limit\", client: 127.0.0.1", log[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReferenceConfig_FortyConcurrentConnections_ExactlyNineteen429AndNothingElseOverTheBurst()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(ReferenceConfig(backend));

        var statuses = await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ => (await SendAsync(proxy.EndPoint, Get("/api/x"))).Status));

        // limit_req runs before limit_conn (nginx's preaccess order): exactly 19 are over the burst whatever the
        // interleaving; of the 21 admitted, any beyond 10 in flight at one moment get limit_conn's 503.
        Assert.Equal(19, statuses.Count(s => s == 429));
        Assert.Equal(21, statuses.Count(s => s is 200 or 503));
        Assert.Equal(statuses.Count(s => s == 200), backend.Requests.Count);
    }

    [Fact]
    public async Task ReferenceConfig_EleventhConcurrentRequest_GetsLimitConnStatusUntilOneFinishes()
    {
        var gates = new ConcurrentDictionary<string, TaskCompletionSource>();
        await using var backend = new TestBackend(async (request, connection) =>
        {
            await gates.GetOrAdd(request.Target, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            await connection.RespondAsync(200, "ok");
        });
        await using var proxy = await LimitedProxy.StartAsync(ReferenceConfig(backend));
        var clients = new List<RawClient>();
        try
        {
            for (int i = 0; i < 10; i++)
            {
                var client = await RawClient.ConnectAsync(proxy.EndPoint);
                clients.Add(client);
                await client.SendAsync(Get($"/api/slow?{i}"));
            }
            await backend.WaitForRequestsAsync(10);

            var eleventh = await SendAsync(proxy.EndPoint, Get("/api/slow?10"));
            Assert.Equal(503, eleventh.Status); // limit_conn_status is not set in 04-rate-limit.conf: nginx's 503
            Assert.Null(eleventh.Header("Retry-After"));
            Assert.Equal(10, backend.Requests.Count);

            // One finishes: its place is free for the next request (here the same connection's next one).
            gates.GetOrAdd("/slow?0", _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).SetResult();
            Assert.Equal(200, (await clients[0].ReadResponseAsync()).Status);
            await clients[0].SendAsync(Get("/api/slow?11"));
            await backend.WaitForRequestsAsync(11);
            Assert.Equal("/slow?11", backend.Requests.Last().Target);
            Assert.Equal(503, (await SendAsync(proxy.EndPoint, Get("/api/slow?12"))).Status);
            Assert.Contains(proxy.Logs, l => l.Message.StartsWith("limiting connections by zone \"addr\", client: 127.0.0.1", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var gate in gates.Values)
            {
                gate.TrySetResult();
            }
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ReferenceConfig_TwoClientAddresses_LimitedIndependently()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(ReferenceConfig(backend));
        await using var first = await RawClient.ConnectAsync(proxy.EndPoint, IPAddress.Loopback);
        await using var second = await RawClient.ConnectAsync(proxy.EndPoint, SecondClient);

        var a = await PipelineAsync(first, Get("/api/a"), 22);
        var b = await PipelineAsync(second, Get("/api/b"), 22);

        Assert.Equal(Enumerable.Repeat(200, 21).Append(429), a.Select(r => r.Status));
        Assert.Equal(Enumerable.Repeat(200, 21).Append(429), b.Select(r => r.Status));
        Assert.Contains(proxy.Logs, l => l.Message.Contains("client: 127.0.0.2", StringComparison.Ordinal));
    }

    // ---- limit_req: delays, dry run, several zones -------------------------------------------------------------

    [Fact]
    public async Task LimitReq_BurstWithoutNodelay_DelayedRequestWaitsForTheClock()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=one burst=5;
                    proxy_set_header X-Limit-Req $limit_req_status;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);

        Assert.Equal(200, (await PipelineAsync(client, Get("/"), 1))[0].Status);
        int timers = proxy.Clock.PendingTimers;
        await client.SendAsync(Get("/second"));

        // The second request (excess 1 at 1r/s) is parked on a 1 s timer of the proxy's clock: it cannot reach the
        // backend before the clock gets there.
        await Waits.UntilAsync(() => proxy.Clock.PendingTimers > timers, "the delay timer is armed");
        proxy.Clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Single(backend.Requests);
        proxy.Clock.Advance(TimeSpan.FromMilliseconds(1));

        var response = await client.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        Assert.Equal(2, backend.Requests.Count);
        Assert.Equal("PASSED", backend.Requests.First().Header("X-Limit-Req"));
        Assert.Equal("DELAYED", backend.Requests.Last().Header("X-Limit-Req"));
        var delayed = Assert.Single(proxy.Logs, l => l.Message.StartsWith("delaying request", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, delayed.Level); // one level below limit_req_log_level (error)
        Assert.StartsWith("delaying request, excess: 1.000, by zone \"one\"", delayed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LimitReq_ClientClosesDuringDelay_RequestNeverReachesTheBackend()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=one burst=5;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        Assert.Equal(200, (await SendAsync(proxy.EndPoint, Get("/first"))).Status);
        int timers = proxy.Clock.PendingTimers;
        var client = await RawClient.ConnectAsync(proxy.EndPoint);
        await client.SendAsync(Get("/abandoned"));
        await Waits.UntilAsync(() => proxy.Clock.PendingTimers > timers, "the delay timer is armed");

        // nginx's ngx_http_test_reading: the client's close ends the delayed request (499), before any backend sees it.
        await client.DisposeAsync();
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the delayed request ended");
        proxy.Clock.Advance(TimeSpan.FromSeconds(2));

        // A request after it: the bucket still counts the abandoned one (nginx accounted it when it delayed it).
        await using var next = await RawClient.ConnectAsync(proxy.EndPoint);
        await next.SendAsync(Get("/next"));
        Assert.Equal(200, (await next.ReadResponseAsync()).Status);
        Assert.Equal(new[] { "/first", "/next" }, backend.Requests.Select(r => r.Target));
    }

    [Fact]
    public async Task LimitReq_DelayedPostWithBody_BodyForwardedAfterTheDelay()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=one burst=5;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);
        Assert.Equal(200, (await PipelineAsync(client, Get("/"), 1))[0].Status);
        int timers = proxy.Clock.PendingTimers;

        // The head first; the body arrives while the request waits (the watch for a close must leave it unread).
        await client.SendAsync("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
        await Waits.UntilAsync(() => proxy.Clock.PendingTimers > timers, "the delay timer is armed");
        await client.SendAsync("hello");
        await client.SendAsync(Get("/after"));
        proxy.Clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        // The pipelined GET is delayed too (excess 1 again at t = 1 s).
        await Waits.UntilAsync(() => proxy.Clock.PendingTimers > timers, "the second delay timer is armed");
        proxy.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        var upload = backend.Requests.Single(r => r.Target == "/upload");
        Assert.Equal("hello", Encoding.ASCII.GetString(upload.Body));
        Assert.Equal("/after", backend.Requests.Last().Target);
    }

    [Fact]
    public async Task LimitReq_DelayParameter_FirstRequestsPassThenDelayedThenRejected()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=one burst=3 delay=2;
                    limit_req_status 429;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);

        // Excess 0, 1, 2: within delay=2, no wait.
        Assert.All(await PipelineAsync(client, Get("/"), 3), r => Assert.Equal(200, r.Status));
        int timers = proxy.Clock.PendingTimers;
        await client.SendAsync(Get("/fourth"));
        await Waits.UntilAsync(() => proxy.Clock.PendingTimers > timers, "the delay timer is armed");
        Assert.Equal(3, backend.Requests.Count);

        // A fifth request from another connection of the same client is over the burst (excess 4 > 3): rejected at
        // once although the fourth is still waiting (it was counted when it was delayed).
        var fifth = await SendAsync(proxy.EndPoint, Get("/fifth"));
        Assert.Equal(429, fifth.Status);
        Assert.Equal("1", fifth.Header("Retry-After"));

        proxy.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        Assert.Equal("/fourth", backend.Requests.Last().Target);
    }

    [Fact]
    public async Task LimitReq_DryRun_LogsAndPassesEverything()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=one;
                    limit_req_dry_run on;
                    limit_req_log_level warn;
                    proxy_set_header X-Limit-Req $limit_req_status;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);

        var responses = await PipelineAsync(client, Get("/"), 3);

        Assert.All(responses, r => Assert.Equal(200, r.Status));
        Assert.Equal(new[] { "PASSED", "REJECTED_DRY_RUN", "REJECTED_DRY_RUN" }, backend.Requests.Select(r => r.Header("X-Limit-Req")));
        var logged = proxy.Logs.Where(l => l.Message.StartsWith("limiting requests", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, logged.Count);
        Assert.All(logged, l => Assert.Equal(LogLevel.Warning, l.Level));
        Assert.StartsWith("limiting requests, dry run, excess: 1.000 by zone \"one\"", logged[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LimitReq_TwoZonesInOneLocation_EitherRejectsAndAKeyOfAnyExpressionWorks()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $binary_remote_addr zone=perip:1m rate=1r/s;
            limit_req_zone $server_name zone=perserver:1m rate=1r/s;
            server {
                listen 127.0.0.1:0;
                server_name example;
                location / {
                    limit_req zone=perip burst=1 nodelay;
                    limit_req zone=perserver burst=2 nodelay;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        await using var first = await RawClient.ConnectAsync(proxy.EndPoint, IPAddress.Loopback);
        await using var second = await RawClient.ConnectAsync(proxy.EndPoint, SecondClient);

        // 127.0.0.1: two pass (perip burst 1), the third is over perip's burst.
        Assert.Equal(new[] { 200, 200, 503 }, (await PipelineAsync(first, Get("/"), 3)).Select(r => r.Status));
        // 127.0.0.2: a fresh perip key, but the server-wide zone has taken 2 of 3 already: one passes, then perserver rejects.
        Assert.Equal(new[] { 200, 503 }, (await PipelineAsync(second, Get("/"), 2)).Select(r => r.Status));
        Assert.Contains(proxy.Logs, l => l.Message.Contains("by zone \"perip\", client: 127.0.0.1", StringComparison.Ordinal));
        Assert.Contains(proxy.Logs, l => l.Message.Contains("by zone \"perserver\", client: 127.0.0.2", StringComparison.Ordinal));
        Assert.Equal(3, backend.Requests.Count);
    }

    [Fact]
    public async Task LimitReq_EmptyKey_IsNotLimited()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $http_x_api_key zone=perkey:1m rate=1r/m;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=perkey;
                    proxy_set_header X-Limit-Req $limit_req_status;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);

        Assert.All(await PipelineAsync(client, Get("/"), 5), r => Assert.Equal(200, r.Status));
        Assert.All(backend.Requests, r => Assert.Null(r.Header("X-Limit-Req"))); // no rule applied: "not found", the header is dropped

        await client.SendAsync(Get("/", "X-Api-Key: k1\r\n") + Get("/", "X-Api-Key: k1\r\n") + Get("/", "X-Api-Key: k2\r\n"));
        Assert.Equal(new[] { 200, 503, 200 }, await ReadStatusesAsync(client, 3));
    }

    private static async Task<int[]> ReadStatusesAsync(RawClient client, int count)
    {
        var statuses = new int[count];
        for (int i = 0; i < count; i++)
        {
            statuses[i] = (await client.ReadResponseAsync()).Status;
        }
        return statuses;
    }

    // ---- Rejected requests and the connection ------------------------------------------------------------------

    [Fact]
    public async Task LimitReq_RejectedRequestWithBody_BodyDiscardedAndConnectionKeptAlive()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
            server {
                listen 127.0.0.1:0;
                location /limited/ {
                    limit_req zone=one;
                    limit_req_status 429;
                    proxy_pass http://{{backend.Address}};
                }
                location /free/ {
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);
        const string Post = "POST /limited/x HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";

        await client.SendAsync(Post + Post + Get("/free/after"));

        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        var rejected = await client.ReadResponseAsync();
        Assert.Equal(429, rejected.Status);
        Assert.Equal("keep-alive", rejected.Header("Connection"));
        Assert.Equal("63", rejected.Header("Retry-After")); // nginx's 1r/m is 16 milli-requests/s: room again after 62.5 s
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        Assert.Equal(new[] { "/limited/x", "/free/after" }, backend.Requests.Select(r => r.Target));
        Assert.Equal("hello world", Encoding.ASCII.GetString(backend.Requests.First().Body));
    }

    [Fact]
    public async Task LimitReq_RejectedRequestExpectingContinue_AnsweredAndClosedWithoutReadingTheBody()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=one;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        Assert.Equal(200, (await SendAsync(proxy.EndPoint, Get("/"))).Status);
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);

        await client.SendAsync("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n");

        var response = await client.ReadResponseAsync();
        Assert.Equal(503, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        Assert.True(await client.IsClosedAsync());
        Assert.Single(backend.Requests);
    }

    [Fact]
    public async Task LimitReq_HeadRequestRejected_HeadersOnly()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=one;
                    add_header X-Limited $limit_req_status always;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);

        await client.SendAsync(Get("/") + "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + Get("/"));

        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        var head = await client.ReadResponseAsync(headRequest: true);
        Assert.Equal(503, head.Status);
        Assert.Equal("REJECTED", head.Header("X-Limited"));
        Assert.Equal(503, (await client.ReadResponseAsync()).Status); // the HEAD answer carried no body
    }

    // ---- limit_conn: the place is given back however the request ends ------------------------------------------

    [Fact]
    public async Task LimitConn_UpstreamError_PlaceReleased()
    {
        int deadPort = FastProxyProcess.FreePort();
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_conn_zone $binary_remote_addr zone=addr:1m;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_conn addr 1;
                    limit_conn_status 429;
                    proxy_pass http://127.0.0.1:{{deadPort}};
                }
            }
            """));

        // Nothing listens there: 502, and each request's place is back before the next one.
        await using (var client = await RawClient.ConnectAsync(proxy.EndPoint))
        {
            Assert.Equal(new[] { 502, 502, 502 }, (await PipelineAsync(client, Get("/"), 3)).Select(r => r.Status));
        }
        // The place is given back when the request ends, just after its answer went out (nginx too frees it after
        // the log phase): a request on another connection is sent once the first connection is fully done.
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the first connection ended");
        Assert.Equal(502, (await SendAsync(proxy.EndPoint, Get("/"))).Status);
    }

    [Fact]
    public async Task LimitConn_ClientGoneAndUpgradeTunnel_PlacesReleasedWhenTheyEnd()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = new TestBackend(async (request, connection) =>
        {
            if (request.Header("Upgrade") is not null)
            {
                await connection.WriteAsync("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
                connection.CloseAfterResponse = true;
                await connection.Reader.ReadToEndAsync(); // the tunnel lasts until the proxy closes it
                return;
            }
            if (request.Target == "/slow")
            {
                await release.Task;
            }
            await connection.RespondAsync(200, "ok");
        });
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_conn_zone $binary_remote_addr zone=addr:1m;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_conn addr 1;
                    proxy_set_header Upgrade $http_upgrade;
                    proxy_set_header Connection $http_connection;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));

        // A client that leaves while its request is at the backend: the place is held until the request ends.
        var gone = await RawClient.ConnectAsync(proxy.EndPoint);
        await gone.SendAsync(Get("/slow"));
        await backend.WaitForRequestsAsync(1);
        await gone.DisposeAsync();
        Assert.Equal(503, (await SendAsync(proxy.EndPoint, Get("/"))).Status);
        release.SetResult();
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the abandoned request ended");
        Assert.Equal(200, (await SendAsync(proxy.EndPoint, Get("/"))).Status);
        // That request's place is freed just after its answer (nginx frees it after the log phase): wait for its
        // connection to end, or the upgrade below may race it and get 503.
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the plain request ended");

        // An upgraded connection holds its place for the life of the tunnel.
        var tunnel = await RawClient.ConnectAsync(proxy.EndPoint);
        await tunnel.SendAsync(Get("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n"));
        Assert.Equal(101, (await tunnel.ReadHeadAsync()).Status);
        Assert.Equal(503, (await SendAsync(proxy.EndPoint, Get("/"))).Status);
        await tunnel.DisposeAsync();
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the tunnel closed");
        Assert.Equal(200, (await SendAsync(proxy.EndPoint, Get("/"))).Status);
    }

    [Fact]
    public async Task LimitConn_DryRun_PassesWithStatusVariable()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = new TestBackend(async (request, connection) =>
        {
            if (request.Target == "/hold")
            {
                await gate.Task;
            }
            await connection.RespondAsync(200, "ok");
        });
        await using var proxy = await LimitedProxy.StartAsync(Http($$"""
            limit_conn_zone $binary_remote_addr zone=addr:1m;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_conn addr 1;
                    limit_conn_dry_run on;
                    limit_conn_log_level info;
                    proxy_set_header X-Limit-Conn $limit_conn_status;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """));
        await using var holder = await RawClient.ConnectAsync(proxy.EndPoint);
        await holder.SendAsync(Get("/hold"));
        await backend.WaitForRequestsAsync(1);

        Assert.Equal(200, (await SendAsync(proxy.EndPoint, Get("/second"))).Status);
        gate.SetResult();
        Assert.Equal(200, (await holder.ReadResponseAsync()).Status);

        Assert.Equal("PASSED", backend.Requests.First(r => r.Target == "/hold").Header("X-Limit-Conn"));
        Assert.Equal("REJECTED_DRY_RUN", backend.Requests.First(r => r.Target == "/second").Header("X-Limit-Conn"));
        var logged = Assert.Single(proxy.Logs, l => l.Message.StartsWith("limiting connections", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Information, logged.Level);
        Assert.StartsWith("limiting connections, dry run, by zone \"addr\"", logged.Message, StringComparison.Ordinal);
    }

    // ---- realip -------------------------------------------------------------------------------------------------

    private static string RealIpConfig(TestBackend backend) => Http($$"""
        limit_req_zone $binary_remote_addr zone=perclient:1m rate=1r/m;
        server {
            listen 127.0.0.1:0;
            set_real_ip_from 127.0.0.1;
            real_ip_header X-Forwarded-For;
            real_ip_recursive on;
            location / {
                limit_req zone=perclient;
                proxy_set_header X-Real-IP $remote_addr;
                proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                proxy_set_header X-Peer $realip_remote_addr;
                proxy_pass http://{{backend.Address}};
            }
        }
        """);

    [Fact]
    public async Task RealIp_TrustedPeer_ForwardedForIsTheClientForHeadersAndLimits()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(RealIpConfig(backend));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint, IPAddress.Loopback);

        await client.SendAsync(
            Get("/", "X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n")
            + Get("/", "X-Forwarded-For: 2001:DB8:0:0::1\r\n")
            + Get("/", "X-Forwarded-For: 203.0.113.7\r\n")
            + Get("/"));
        var statuses = await ReadStatusesAsync(client, 4);

        // Each forwarded client has its own bucket (1r/m, no burst): 203.0.113.7 a second time is rejected; the
        // proxy itself (no header) is a client of its own.
        Assert.Equal(new[] { 200, 200, 503, 200 }, statuses);
        var requests = backend.Requests.ToArray();
        Assert.Equal("203.0.113.7", requests[0].Header("X-Real-IP"));
        Assert.Equal("198.51.100.1, 203.0.113.7, 203.0.113.7", requests[0].Header("X-Forwarded-For"));
        Assert.Equal("127.0.0.1", requests[0].Header("X-Peer"));
        Assert.Equal("2001:db8::1", requests[1].Header("X-Real-IP"));
        Assert.Equal("127.0.0.1", requests[2].Header("X-Real-IP")); // realip is per request: the next one is the peer again
        Assert.Contains(proxy.Logs, l => l.Message.Contains("client: 203.0.113.7", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RealIp_UntrustedPeer_HeaderIgnored()
    {
        await using var backend = Backend();
        await using var proxy = await LimitedProxy.StartAsync(RealIpConfig(backend));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint, SecondClient);

        var first = await PipelineAsync(client, Get("/", "X-Forwarded-For: 203.0.113.9\r\n"), 1);
        var second = await PipelineAsync(client, Get("/", "X-Forwarded-For: 203.0.113.10\r\n"), 1);

        // The peer 127.0.0.2 is not in set_real_ip_from: it cannot choose its key, so the second request is limited.
        Assert.Equal(200, first[0].Status);
        Assert.Equal(503, second[0].Status);
        var request = Assert.Single(backend.Requests);
        Assert.Equal("127.0.0.2", request.Header("X-Real-IP"));
        Assert.Equal("203.0.113.9, 127.0.0.2", request.Header("X-Forwarded-For"));
    }

    // ---- embedding API -----------------------------------------------------------------------------------------

    [Fact]
    public async Task Builder_LimitsAndRealIp_SameBehaviourAsTheNginxFile()
    {
        await using var backend = Backend();
        await using var proxy = await Proxy.StartAsync(
            l => l.ProxyPass($"http://{backend.Address}")
                .RealIp(["127.0.0.0/8"], "X-Forwarded-For")
                .LimitReq("perclient", burst: 1, nodelay: true)
                .LimitReqOptions(status: 429)
                .LimitConn("addr", 5),
            more: b => b
                .LimitReqZone("perclient", "$binary_remote_addr", 1 << 20, "1r/m")
                .LimitConnZone("addr", "$binary_remote_addr", 1 << 20));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync(Get("/", "X-Forwarded-For: 203.0.113.1\r\n") + Get("/", "X-Forwarded-For: 203.0.113.1\r\n")
            + Get("/", "X-Forwarded-For: 203.0.113.1\r\n") + Get("/", "X-Forwarded-For: 203.0.113.2\r\n"));

        Assert.Equal(new[] { 200, 200, 429, 200 }, await ReadStatusesAsync(client, 4));
        Assert.Equal(3, backend.Requests.Count);
    }

    // ---- reload ------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Reload_SameZone_KeepsStateAndChangedKeyIsRefused()
    {
        await using var backend = Backend();
        string Config(string key, string rate) => Http($$"""
            limit_req_zone {{key}} zone=one:1m rate={{rate}};
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=one;
                    proxy_pass http://{{backend.Address}};
                }
            }
            """);
        await using var proxy = await LimitedProxy.StartAsync(Config("$binary_remote_addr", "1r/m"));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);
        Assert.Equal(new[] { 200, 503 }, (await PipelineAsync(client, Get("/"), 2)).Select(r => r.Status));

        // Same name, size and key, new rate: the state is kept (nginx keeps the shared zone) and the new rate applies.
        Assert.True(proxy.Server.TryReload(proxy.Load(Config("$binary_remote_addr", "2r/m")), out var errors), string.Join("; ", errors));
        Assert.Equal(503, (await PipelineAsync(client, Get("/"), 1))[0].Status);

        // The same zone with another key is refused, like nginx's reload; the running configuration stays.
        Assert.False(proxy.Server.TryReload(proxy.Load(Config("$remote_addr", "2r/m")), out errors));
        Assert.Contains(errors, e => e.Contains("uses the \"$remote_addr\" key while previously it used the \"$binary_remote_addr\" key", StringComparison.Ordinal));
        proxy.Clock.Advance(TimeSpan.FromSeconds(31)); // 2r/m is 33 milli-requests/s: one request leaks in 30.3 s
        Assert.Equal(new[] { 200, 503 }, (await PipelineAsync(client, Get("/"), 2)).Select(r => r.Status));
    }

    [Fact]
    public async Task Reload_FailingAfterTheZonesWerePrepared_DoesNotLoseTheirState()
    {
        await using var backend = Backend();
        using var occupied = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        occupied.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        occupied.Listen();
        string Config(string size, string extra = "") => Http($$"""
            limit_req_zone $binary_remote_addr zone=one:{{size}} rate=1r/m;
            server {
                listen 127.0.0.1:0;
                location / {
                    limit_req zone=one;
                    proxy_pass http://{{backend.Address}};
                }
            }
            {{extra}}
            """);
        await using var proxy = await LimitedProxy.StartAsync(Config("1m"));
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint);
        Assert.Equal(new[] { 200, 503 }, (await PipelineAsync(client, Get("/"), 2)).Select(r => r.Status));

        // A resized zone would start empty, but this reload fails at bind time, after its zones were prepared...
        string failing = Config("2m", $"server {{ listen 127.0.0.1:{((IPEndPoint)occupied.LocalEndPoint!).Port}; }}");
        Assert.False(proxy.Server.TryReload(proxy.Load(failing), out var errors));
        Assert.Contains(errors, e => e.StartsWith("bind()", StringComparison.Ordinal));

        // ...so the running zone is still the one the next reload is compared with: same size, state kept.
        Assert.True(proxy.Server.TryReload(proxy.Load(Config("1m")), out errors), string.Join("; ", errors));
        Assert.Equal(503, (await PipelineAsync(client, Get("/"), 1))[0].Status);
    }

    /// <summary>A ProxyServer from an nginx config text, on a manual clock, capturing its log.</summary>
    private sealed class LimitedProxy : IAsyncDisposable
    {
        private readonly CapturingLoggerFactory _logs;

        private LimitedProxy(ProxyServer server, ManualClock clock, CapturingLoggerFactory logs)
        {
            Server = server;
            Clock = clock;
            _logs = logs;
            EndPoint = server.BoundEndPoints[0];
        }

        public ProxyServer Server { get; }
        public ManualClock Clock { get; }
        public IPEndPoint EndPoint { get; }
        public IReadOnlyList<(LogLevel Level, string Message)> Logs => [.. _logs.Entries];

        private int _port;

        /// <summary>Loads an nginx config text; "127.0.0.1:0" (nginx refuses port 0) becomes this proxy's port.</summary>
        public ProxyConfig Load(string text) => Load(text, _port);

        private static ProxyConfig Load(string text, int port)
        {
            var result = NginxConfigLoader.LoadText(text.Replace("127.0.0.1:0;", $"127.0.0.1:{port};", StringComparison.Ordinal), "test.conf");
            Assert.True(result.Success, string.Join("\n", result.Diagnostics));
            return result.Config!;
        }

        public static async Task<LimitedProxy> StartAsync(string text)
        {
            var clock = new ManualClock();
            var logs = new CapturingLoggerFactory();
            int port = FastProxyProcess.FreePort();
            var server = new ProxyServer(Load(text, port), logs, clock);
            await server.StartAsync();
            return new LimitedProxy(server, clock, logs) { _port = port };
        }

        public async ValueTask DisposeAsync() => await Server.StopAsync(TimeSpan.FromSeconds(2));
    }

    private sealed class CapturingLoggerFactory : ILoggerFactory, ILogger
    {
        public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

        public void AddProvider(ILoggerProvider provider) { }
        public ILogger CreateLogger(string categoryName) => this;
        public void Dispose() { }
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue((logLevel, formatter(state, exception)));
    }
}
