using FastProxy.Config;
using static FastProxy.Config.Tests.ConfigTestHelpers;

namespace FastProxy.Config.Tests;

/// <summary>The load-balancing checks of the policy registry, reported by the nginx loader at the line they are about.</summary>
public sealed class UpstreamValidationTests
{
    [Fact]
    public void LoadText_SlowStartWithHash_ErrorAtTheServerLine()
    {
        var result = LoadText("events { }\nhttp {\nupstream u {\nhash $request_uri;\nserver 127.0.0.1:1;\nserver 127.0.0.1:2 slow_start=10s;\n}\n}\n");

        var error = Assert.Single(result.Errors());
        Assert.Equal(6, error.Line);
        Assert.Contains("does not support parameter \"slow_start\"", error.Message);
    }

    [Fact]
    public void LoadText_WeightAboveMaximum_ErrorAtTheServerLine()
    {
        var result = LoadText("events { }\nhttp {\nupstream u {\nserver 127.0.0.1:1 weight=2000000;\n}\n}\n");

        var error = Assert.Single(result.Errors());
        Assert.Equal(4, error.Line);
        Assert.Contains("weight=2000000", error.Message);
    }

    [Fact]
    public void LoadText_OnlyBackupServers_ErrorAtTheUpstreamBlock()
    {
        var result = LoadText("events { }\nhttp {\nupstream u {\nserver 127.0.0.1:1 backup;\n}\n}\n");

        var error = Assert.Single(result.Errors());
        Assert.Equal(3, error.Line);
        Assert.Contains("no servers are inside upstream \"u\"", error.Message);
    }

    [Fact]
    public void LoadText_BackupWithIpHash_OneErrorInNginxWords()
    {
        var error = Assert.Single(LoadHttp("upstream u { ip_hash; server 127.0.0.1:1; server 127.0.0.1:2 backup; }").Errors());

        Assert.Equal("balancing method does not support parameter \"backup\"", error.Message);
    }
}
