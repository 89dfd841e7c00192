using System.Text;

namespace FastProxy.Http.Tests;

public sealed class UpstreamAttemptsTests
{
    [Fact]
    public void BeginEnd_SeveralAttempts_JoinedAsNginxJoinsThem()
    {
        var attempts = new UpstreamAttempts();

        attempts.Begin("10.0.0.1:80"u8);
        attempts.End(502);
        attempts.Begin("10.0.0.2:80"u8);
        attempts.End(0);
        attempts.Begin("backend"u8);
        attempts.End(200);

        Assert.Equal("10.0.0.1:80, 10.0.0.2:80, backend", Encoding.ASCII.GetString(attempts.Addresses));
        Assert.Equal("502, -, 200", Encoding.ASCII.GetString(attempts.Statuses));
        attempts.Release();
    }

    [Fact]
    public void End_CalledTwice_FirstStatusKept()
    {
        var attempts = new UpstreamAttempts();

        attempts.Begin("a:1"u8);
        attempts.End(404);
        attempts.End(502);

        Assert.Equal("404", Encoding.ASCII.GetString(attempts.Statuses));
        attempts.Release();
    }

    [Fact]
    public void Clear_NextRequest_StartsEmpty()
    {
        var attempts = new UpstreamAttempts();
        attempts.Begin(new string('x', 300).Select(c => (byte)c).ToArray());
        attempts.End(200);

        attempts.Clear();
        attempts.Begin("b:2"u8);

        Assert.Equal("b:2", Encoding.ASCII.GetString(attempts.Addresses));
        Assert.Equal(1, attempts.Count);
        attempts.Release();
    }
}
