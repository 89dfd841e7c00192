using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>
/// Virtual servers chosen by Host through real connections (each listen address finds its server table once per
/// configuration): several servers on one address, one server alone on another, and a reload that renames them.
/// </summary>
public sealed class ServerSelectionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fp-selection-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private NginxTestConfig Load(string servers) =>
        NginxTestConfig.Load($"events {{ }}\nhttp {{\n{servers}\n}}\n", Path.Combine(_dir, "test.conf"), _dir);

    /// <summary>One request per "host" (for "/") or "host/path", in turn on the connection; the bodies.</summary>
    private static async Task<string[]> AnswersAsync(RawClient client, params string[] targets)
    {
        var answers = new string[targets.Length];
        for (int i = 0; i < targets.Length; i++)
        {
            int slash = targets[i].IndexOf('/');
            string host = slash < 0 ? targets[i] : targets[i][..slash];
            string path = slash < 0 ? "/" : targets[i][slash..];
            await client.SendAsync($"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
            var response = await client.ReadResponseAsync();
            Assert.Equal(200, response.Status);
            answers[i] = response.BodyText;
        }
        return answers;
    }

    [Fact]
    public async Task ServerSelection_TwoAddresses_EachRequestAnsweredByTheServerOfItsAddressAndHost()
    {
        var file = Load("""
            server { listen 127.0.0.1:8001; server_name a.test; return 200 a; }
            server { listen 127.0.0.1:8001 default_server; server_name b.test; return 200 b; }
            server { listen 127.0.0.1:8002; server_name c.test; return 200 c; }
            """);
        await using var proxy = await Proxy.StartAsync(file.Config);

        // Keep-alive connections: the server is chosen per request, not per connection.
        await using var first = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 8001));
        await using var second = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 8002));

        Assert.Equal(["a", "b", "b", "a"], await AnswersAsync(first, "a.test", "B.TEST:80", "unknown.test", "A.test."));
        // The only server of its address answers whatever the Host names, also another address's name.
        Assert.Equal(["c", "c", "c"], await AnswersAsync(second, "c.test", "a.test", "unknown.test"));
    }

    [Fact]
    public async Task ServerSelection_ReloadRenamesServers_NextRequestsFollowTheNewNames()
    {
        string Config(string firstName) => $$"""
            server { listen 127.0.0.1:8001; server_name {{firstName}}; return 200 first; }
            server { listen 127.0.0.1:8001 default_server; server_name other.test; return 200 other; }
            """;
        var file = Load(Config("one.test"));
        await using var proxy = await Proxy.StartAsync(file.Config);
        await using var client = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 8001));
        Assert.Equal(["first", "other", "other"], await AnswersAsync(client, "one.test", "other.test", "two.test"));

        Assert.True(proxy.Server.TryReload(Load(Config("two.test")).Config, out var errors), string.Join("; ", errors));

        // Same connection, next requests: the new snapshot's table for this address.
        Assert.Equal(["first", "other", "other"], await AnswersAsync(client, "two.test", "other.test", "one.test"));
    }

    [Fact]
    public async Task ServerSelection_RegexServerName_CapturesUsableInTheServer()
    {
        var file = Load("""
            server { listen 127.0.0.1:8001; server_name app.test; return 200 "exact"; }
            server { listen 127.0.0.1:8001; server_name ~^(?<user>[a-z]+)\.(users)\.test$;
                location / { return 200 "user=$user second=$2"; }
                location ~ ^/files/(.+)$ { return 200 "user=$user file=$1"; }
            }
            server { listen 127.0.0.1:8002; server_name ~^(?<tenant>[a-z]+)\.tenants\.test$; return 200 "tenant=$tenant"; }
            """);
        await using var proxy = await Proxy.StartAsync(file.Config);
        await using var first = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 8001));
        await using var second = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 8002));

        // Named captures are variables for the whole request; a location regex's match replaces $1..$9 (nginx's
        // regex_captures.html). Each request of a keep-alive connection gets its own.
        Assert.Equal(["user=alice second=users", "user=bob file=a.txt", "exact", "user=carol second=users"],
            await AnswersAsync(first, "alice.users.test", "BOB.users.test/files/a.txt", "app.test", "carol.users.test"));
        // The only server of its address, named by a regex: still matched, for its captures.
        Assert.Equal(["tenant=acme", "tenant="], await AnswersAsync(second, "acme.tenants.test", "other.test"));
    }
}
