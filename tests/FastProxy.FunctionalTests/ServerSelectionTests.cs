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

    private static async Task<string[]> AnswersAsync(RawClient client, params string[] hosts)
    {
        var answers = new string[hosts.Length];
        for (int i = 0; i < hosts.Length; i++)
        {
            await client.SendAsync($"GET / HTTP/1.1\r\nHost: {hosts[i]}\r\n\r\n");
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
}
