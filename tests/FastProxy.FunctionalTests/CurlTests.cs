using System.Security.Cryptography;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>curl as a real client against the proxy (through the embedding API).</summary>
public sealed class CurlTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fastproxy-curl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Curl_GetThroughProxy_HeadersAndBody()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ProxySetHeader("X-Real-IP", "$remote_addr"));

        var (code, stdout, _) = await Curl.RunAsync("-s", "-i", "--max-time", "20", proxy.Url + "/hello?x=1");

        Assert.Equal(0, code);
        Assert.StartsWith("HTTP/1.1 200", stdout);
        Assert.Contains("Server: fastproxy", stdout);
        Assert.Contains("GET /hello?x=1 HTTP/1.1", stdout);
        Assert.Contains("X-Real-IP: 127.0.0.1", stdout);
    }

    [Fact]
    public async Task Curl_UploadAndDownloadThreeMiB_IntactBothWays()
    {
        var payload = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var upload = Path.Combine(_dir, "up.bin");
        var download = Path.Combine(_dir, "down.bin");
        await File.WriteAllBytesAsync(upload, payload);
        await using var backend = new TestBackend((request, c) => c.RespondAsync(200, request.Body));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ClientMaxBodySize(0));

        // curl sends Expect: 100-continue for a body this large: the proxy answers it.
        var (code, _, stderr) = await Curl.RunAsync("-s", "-S", "--max-time", "20", "--data-binary", "@" + upload, "-o", download, proxy.Url + "/up");

        Assert.True(code == 0, stderr);
        Assert.Equal(payload, await File.ReadAllBytesAsync(download));
    }

    [Fact]
    public async Task Curl_ChunkedUploadAndHttp10_Work()
    {
        await using var backend = new TestBackend((request, c) => c.RespondAsync(200, $"{request.Body.Length} chunked={request.WasChunked}"));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var chunked = await Curl.RunAsync("-s", "--max-time", "20", "-H", "Transfer-Encoding: chunked", "--data-binary", "hello world", proxy.Url + "/");
        var http10 = await Curl.RunAsync("-s", "--max-time", "20", "-0", "--data-binary", "abc", proxy.Url + "/");

        Assert.Equal("11 chunked=True", chunked.Stdout);
        Assert.Equal("3 chunked=False", http10.Stdout);
    }

    [Fact]
    public async Task Curl_SeveralUrlsOneInvocation_OneClientAndOneBackendConnection()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var (code, _, stderr) = await Curl.RunAsync("-s", "-v", "--max-time", "20", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
            proxy.Url + "/1", proxy.Url + "/2", proxy.Url + "/3");

        Assert.Equal(0, code);
        Assert.Contains("Re-using existing connection", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(3, backend.Requests.Count);
        Assert.Equal(1, backend.Accepts);
    }
}
