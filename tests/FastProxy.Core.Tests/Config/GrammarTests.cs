using static FastProxy.Config.Tests.ConfigTestHelpers;

namespace FastProxy.Config.Tests;

public sealed class GrammarTests
{
    private static string HeaderValue(string directiveTail)
    {
        var config = LoadHttpOk("server {\nlisten 127.0.0.1:18080;\nlocation / {\nproxy_pass http://127.0.0.1:18081;\n"
            + "proxy_set_header X-Test " + directiveTail + "\n}\n}");
        return config.Servers[0].Locations[0].Settings.ProxySetHeaders[0].Value.Source;
    }

    [Theory]
    [InlineData("plain;", "plain")]
    [InlineData("\"double quoted\";", "double quoted")]
    [InlineData("'single quoted';", "single quoted")]
    [InlineData("\"a \\\"b\\\" c\";", "a \"b\" c")]
    [InlineData("'it\\'s';", "it's")]
    [InlineData("\"back\\\\slash\";", "back\\slash")]
    [InlineData("\"tab\\there\";", "tab\there")]
    [InlineData("\"new\\nline\";", "new\nline")]
    [InlineData("\"other\\q\";", "other\\q")]
    [InlineData("a#b;", "a#b")]
    [InlineData("\"semi;colon {brace}\";", "semi;colon {brace}")]
    [InlineData("\"multi\nline\";", "multi\nline")]
    [InlineData("${host}suffix;", "${host}suffix")]
    [InlineData("\"\";", "")]
    [InlineData("value; # a comment after", "value")]
    public void LoadText_Arguments_QuotesAndEscapesAsNginx(string tail, string expected) =>
        Assert.Equal(expected, HeaderValue(tail));

    [Fact]
    public void LoadText_CommentsAndBlankLines_Ignored()
    {
        var result = LoadText("# comment\n\nevents { # trailing\n worker_connections 10; }\n#http {\n");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        Assert.Equal(10, result.Config!.WorkerConnections);
    }

    [Fact]
    public void LoadText_ModifierGluedToLocationName_Accepted()
    {
        var config = LoadHttpOk("server { listen 127.0.0.1:18080; location =/x { } location ~*\\.png$ { } location ^~/img/ { } }");
        Assert.Equal([LocationMatchKind.Exact, LocationMatchKind.RegexCaseInsensitive, LocationMatchKind.PrefixNoRegex],
            config.Servers[0].Locations.Select(l => l.MatchKind));
        Assert.Equal(["/x", "\\.png$", "/img/"], config.Servers[0].Locations.Select(l => l.Pattern));
    }

    // Messages as nginx -t prints them (nginx: "[emerg] MESSAGE in FILE:LINE"; FastProxy: "FILE:LINE: MESSAGE").
    [Theory]
    [InlineData("events {}\nhttp {\nserver {\nfoo bar;\n}\n}\n", 4, "unknown directive \"foo\"")]
    [InlineData("events {}\nhttp {\nserver {\nlisten 127.0.0.1:18080;\nproxy_pass http://127.0.0.1:1;\n}\n}\n", 5, "\"proxy_pass\" directive is not allowed here")]
    [InlineData("events {}\nhttp {\nserver {\nlisten;\n}\n}\n", 4, "invalid number of arguments in \"listen\" directive")]
    [InlineData("events {}\nhttp {\n}\n}\n", 4, "unexpected \"}\"")]
    [InlineData("events {}\nhttp {\nserver {\n", 4, "unexpected end of file, expecting \"}\"")]
    [InlineData("events {}\nhttp {\nserver {\nlisten 80\n", 5, "unexpected end of file, expecting \";\" or \"}\"")]
    [InlineData("events {}\nhttp {\nserver {\nserver_name \"abc\"x;\n}\n}\n", 4, "unexpected \"x\"")]
    [InlineData("events {}\nhttp {\nserver;\n}\n", 3, "directive \"server\" has no opening \"{\"")]
    [InlineData("events {}\nhttp {\nserver {\nlisten 80 {\n}\n}\n}\n", 4, "directive \"listen\" is not terminated by \";\"")]
    [InlineData("events {}\nhttp {\nproxy_read_timeout 5s;\nproxy_read_timeout 6s;\n}\n", 4, "\"proxy_read_timeout\" directive is duplicate")]
    [InlineData("events {}\nhttp {\nproxy_read_timeout 5x;\n}\n", 3, "\"proxy_read_timeout\" directive invalid value")]
    [InlineData("events {}\nhttp {\nclient_max_body_size 5x;\n}\n", 3, "\"client_max_body_size\" directive invalid value")]
    [InlineData("events {}\nhttp {\nproxy_buffering maybe;\n}\n", 3, "invalid value \"maybe\" in \"proxy_buffering\" directive, it must be \"on\" or \"off\"")]
    [InlineData("events {}\nhttp {\nserver {\nlisten 127.0.0.1:18080;\nlisten 127.0.0.1:18080;\n}\n}\n", 5, "a duplicate listen 127.0.0.1:18080")]
    [InlineData("events {}\nhttp {\nserver {\nlisten 127.0.0.1:18080 default_server;\n}\nserver {\nlisten 127.0.0.1:18080 default_server;\n}\n}\n", 7, "a duplicate default server for 127.0.0.1:18080")]
    [InlineData("events {}\nhttp {\nserver {\nlisten 127.0.0.1:18080 backlog=5;\n}\nserver {\nlisten 127.0.0.1:18080 backlog=6;\n}\n}\n", 7, "duplicate listen options for 127.0.0.1:18080")]
    [InlineData("events {}\nhttp {\nupstream u { server 127.0.0.1:1; }\nserver {\nlocation ~ /a/ {\nproxy_pass http://u/;\n}\n}\n}\n", 6, "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block")]
    [InlineData("events {}\nhttp {\nserver {\nlocation @named {\nproxy_pass http://127.0.0.1:1/x;\n}\n}\n}\n", 5, "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block")]
    [InlineData("events {}\nhttp {\nupstream u { server 127.0.0.1:1; }\nserver {\nlocation / {\nproxy_pass http://u:80;\n}\n}\n}\n", 6, "upstream \"u\" may not have port 80")]
    [InlineData("events {}\nhttp {\nupstream u {\n}\n}\n", 3, "no servers are inside upstream")]
    [InlineData("events {}\nhttp {\nserver {\nreturn 301 $foo;\n}\n}\n", 4, "unknown \"foo\" variable")]
    [InlineData("events {}\nhttp {\nserver {\nlocation = /a {\nlocation /a/b { }\n}\n}\n}\n", 5, "location \"/a/b\" cannot be inside the exact location \"/a\"")]
    [InlineData("events {}\nhttp {\nserver {\nlocation /a/ {\nlocation /b/ { }\n}\n}\n}\n", 5, "location \"/b/\" is outside location \"/a/\"")]
    [InlineData("events {}\nhttp {\nserver {\nlocation / { }\nlocation / { }\n}\n}\n", 5, "duplicate location \"/\"")]
    [InlineData("events {}\nhttp {\nserver {\nlocation {\n}\n}\n}\n", 4, "invalid number of arguments in \"location\" directive")]
    [InlineData("events {}\nhttp {\nserver {\naccess_log /tmp/x nope;\n}\n}\n", 4, "unknown log format \"nope\"")]
    [InlineData("events {}\nhttp {\nserver {\nserver_name *a.com;\n}\n}\n", 4, "server name \"*a.com\" is invalid")]
    [InlineData("events {}\nhttp {\nserver {\nlisten 127.0.0.1:18443 ssl;\n}\n}\n", 4, "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive")]
    [InlineData("events {}\nevents {}\n", 2, "\"events\" directive is duplicate")]
    [InlineData("http {\n}\n", 0, "no \"events\" section in configuration")]
    public void LoadText_Error_ReportsNginxMessageAndLine(string text, int line, string message)
    {
        var result = LoadText(text);
        Assert.False(result.Success);
        var error = Assert.Single(result.Errors());
        Assert.Equal(message, error.Message);
        Assert.Equal(line, error.Line);
        Assert.Equal(MainFile, error.File);
        Assert.Equal($"{MainFile}:{line}: {message}", error.ToString());
    }

    [Fact]
    public void LoadText_ConflictingServerName_IsWarning()
    {
        var result = LoadHttp("server {\nlisten 127.0.0.1:18080;\nserver_name a;\n}\nserver {\nlisten 127.0.0.1:18080;\nserver_name a;\n}");
        Assert.True(result.Success);
        var warning = Assert.Single(result.Warnings(), w => w.Message.StartsWith("conflicting", StringComparison.Ordinal));
        Assert.Equal("conflicting server name \"a\" on 127.0.0.1:18080, ignored", warning.Message);
        Assert.Equal(9, warning.Line);
        Assert.Contains(result.Config!.Warnings, w => w == $"{MainFile}:9: conflicting server name \"a\" on 127.0.0.1:18080, ignored");
    }

    [Fact]
    public void LoadText_SeveralErrors_ReportsEveryOne()
    {
        var result = LoadHttp("""
            server {
                listen 127.0.0.1:18080;
                foo;
                proxy_read_timeout nope;
                location / {
                    proxy_pass ftp://x;
                    add_header A b sometimes;
                }
            }
            bar 1;
            """);
        Assert.Equal(
            ["unknown directive \"foo\"", "\"proxy_read_timeout\" directive invalid value", "invalid URL prefix in \"ftp://x\"",
             "invalid parameter \"sometimes\"", "unknown directive \"bar\""],
            result.Errors().Select(e => e.Message));
        Assert.Equal([5, 6, 8, 9, 12], result.Errors().Select(e => e.Line));
    }

    [Fact]
    public void LoadText_MultiLineDirective_ReportedAtItsSemicolonLine()
    {
        var result = LoadHttp("server {\nproxy_connect_timeout\n\n  bad\n;\n}");
        Assert.Equal(7, Assert.Single(result.Errors()).Line);
    }

    [Fact]
    public void LoadText_UnknownUpstreamHost_HostNotFound()
    {
        var result = LoadHttp("server {\nlisten 127.0.0.1:18080;\nlocation / {\nproxy_pass http://no-such-upstream.invalid/;\n}\n}");
        Assert.Equal("host not found in upstream \"no-such-upstream.invalid\"", Assert.Single(result.Errors()).Message);
    }

    [Theory]
    [InlineData("auth_basic on;")]
    [InlineData("if ($x) { return 403; }")]
    public void LoadText_AccessControlDirective_RefusedRatherThanIgnored(string directive)
    {
        var result = LoadHttp("server {\nlisten 127.0.0.1:18080;\n" + directive + "\n}");
        Assert.Contains("is not supported by FastProxy", Assert.Single(result.Errors()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadText_HousekeepingDirectives_WarnedAsNotActedOn()
    {
        var result = LoadText("""
            user www-data;
            worker_processes auto;
            events { worker_connections 64; multi_accept on; }
            http {
                sendfile on;
                tcp_nopush on;
                types { text/html html; }
                default_type application/octet-stream;
                gzip on;
                server { listen 127.0.0.1:18080; root /var/www; index index.html; }
            }
            """);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        Assert.Equal(
            ["user", "worker_processes", "multi_accept", "sendfile", "tcp_nopush", "types", "default_type", "gzip", "root", "index"],
            result.Warnings().Select(w => w.Message.Split('"')[1]));
        Assert.All(result.Warnings(), w => Assert.Contains("parsed but not acted on", w.Message, StringComparison.Ordinal));
    }
}
