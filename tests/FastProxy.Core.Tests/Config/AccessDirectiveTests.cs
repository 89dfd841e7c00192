using static FastProxy.Config.Tests.ConfigTestHelpers;

namespace FastProxy.Config.Tests;

public sealed class AccessDirectiveTests
{
    [Fact]
    public void LoadText_AllowDeny_RulesInOrder()
    {
        var config = LoadHttpOk("""
            server {
                listen 127.0.0.1:18080;
                location /status {
                    allow 127.0.0.1;
                    allow 10.0.0.0/8;
                    allow ::1;
                    deny all;
                    return 200;
                }
            }
            """);
        var rules = config.Servers[0].Locations[0].Settings.AccessRules;
        Assert.Equal(
            [new AccessRuleConfig(false, "127.0.0.1"), new AccessRuleConfig(false, "10.0.0.0/8"), new AccessRuleConfig(false, "::1"), new AccessRuleConfig(true, "all")],
            rules);
    }

    [Fact]
    public void LoadText_AccessRules_InnerLevelReplacesOuter()
    {
        var config = LoadHttpOk("""
            deny 192.0.2.1;
            server {
                listen 127.0.0.1:18080;
                allow 10.0.0.1;
                location /a { return 200; }
                location /b { deny all; return 200; }
            }
            """);
        var server = config.Servers[0];
        Assert.Equal([new AccessRuleConfig(false, "10.0.0.1")], server.Settings.AccessRules);
        Assert.Equal([new AccessRuleConfig(false, "10.0.0.1")], server.Locations[0].Settings.AccessRules);
        Assert.Equal([new AccessRuleConfig(true, "all")], server.Locations[1].Settings.AccessRules);
    }

    [Theory]
    [InlineData("allow 300.1.1.1;", "invalid parameter \"300.1.1.1\"")]
    [InlineData("deny 10.0.0.0/33;", "invalid parameter \"10.0.0.0/33\"")]
    [InlineData("deny example.com;", "invalid parameter \"example.com\"")]
    public void LoadText_BadAddress_InvalidParameter(string directive, string message)
    {
        var result = LoadHttp("server {\nlisten 127.0.0.1:18080;\n" + directive + "\n}");
        Assert.Equal(message, Assert.Single(result.Errors()).Message);
    }

    [Fact]
    public void LoadText_HostBitsSet_WarnsAsNginx()
    {
        var result = LoadHttp("server {\nlisten 127.0.0.1:18080;\nallow 10.1.2.3/8;\n}");
        Assert.True(result.Success);
        Assert.Contains(result.Warnings(), w => w.Message == "low address bits of 10.1.2.3/8 are meaningless");
    }

    [Fact]
    public void LoadText_RewriteEmptyReplacement_ErrorAsNginx()
    {
        var result = LoadHttp("server {\nlisten 127.0.0.1:18080;\nrewrite ^ \"\";\n}");
        Assert.Equal("empty replacement", Assert.Single(result.Errors()).Message);
    }

    [Fact]
    public void LoadText_Break_EndsTheRewriteDirectives()
    {
        var result = LoadHttp("server {\nlisten 127.0.0.1:18080;\nlocation / {\nrewrite ^/a /b;\nbreak;\nreturn 403;\n}\n}");
        Assert.True(result.Success);
        var settings = result.Config!.Servers[0].Locations[0].Settings;
        Assert.True(settings.RewriteBreak);
        Assert.Single(settings.Rewrites);
        Assert.Null(settings.Return);
        Assert.Contains(result.Warnings(), w => w.Message == "\"return\" after \"break\" in the same block is never reached");
    }
}
