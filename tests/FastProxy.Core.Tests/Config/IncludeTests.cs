namespace FastProxy.Config.Tests;

public sealed class IncludeTests
{
    [Fact]
    public void LoadFile_RelativeInclude_ResolvedAgainstMainFileDirectoryNotIncludingFile()
    {
        // nginx resolves relative include paths against the conf prefix (the main file's directory), whichever file
        // the include is written in: sub/a.conf's "include b.conf" reads DIR/b.conf, not DIR/sub/b.conf.
        using var dir = new ConfDir();
        string main = dir.Write("nginx.conf", "events {}\nhttp {\ninclude sub/a.conf;\n}\n");
        dir.Write("sub/a.conf", "include b.conf;\n");
        dir.Write("b.conf", "server { listen 127.0.0.1:18080; server_name top; }\n");
        dir.Write("sub/b.conf", "server { listen 127.0.0.1:18080; server_name nested; }\n");
        var result = NginxConfigLoader.LoadFile(main);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        Assert.Equal(["top"], Assert.Single(result.Config!.Servers).ServerNames);
        Assert.Equal([main, Path.Combine(dir.Root, "sub/a.conf"), Path.Combine(dir.Root, "b.conf")], result.Files.Select(f => f.Path));
    }

    [Fact]
    public void LoadFile_GlobInclude_ReadsMatchesInSortedOrderAndSkipsDotFiles()
    {
        using var dir = new ConfDir();
        string main = dir.Write("nginx.conf", "events {}\nhttp {\ninclude sites/*.conf;\n}\n");
        dir.Write("sites/b.conf", "server { listen 127.0.0.1:18081; server_name b; }\n");
        dir.Write("sites/a.conf", "server { listen 127.0.0.1:18080; server_name a; }\n");
        dir.Write("sites/.hidden.conf", "this would not parse;\n");
        dir.Write("sites/c.txt", "nor this;\n");
        var result = NginxConfigLoader.LoadFile(main);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        Assert.Equal(["a", "b"], result.Config!.Servers.Select(s => s.ServerNames[0]));
    }

    [Fact]
    public void LoadFile_GlobMatchingNothing_IsNotAnError()
    {
        using var dir = new ConfDir();
        string main = dir.Write("nginx.conf", "events {}\nhttp {\ninclude conf.d/*.conf;\n}\n");
        Assert.True(NginxConfigLoader.LoadFile(main).Success);
    }

    [Fact]
    public void LoadFile_MissingInclude_ReportsOpenFailedAtIncludeLine()
    {
        using var dir = new ConfDir();
        string main = dir.Write("nginx.conf", "events {}\nhttp {\n\ninclude missing.conf;\n}\n");
        var result = NginxConfigLoader.LoadFile(main);
        var error = Assert.Single(result.Errors());
        Assert.Equal($"open() \"{Path.Combine(dir.Root, "missing.conf")}\" failed (2: No such file or directory)", error.Message);
        Assert.Equal(main, error.File);
        Assert.Equal(4, error.Line);
    }

    [Fact]
    public void LoadFile_ErrorInIncludedFile_NamesThatFileAndLine()
    {
        using var dir = new ConfDir();
        string main = dir.Write("nginx.conf", "events {}\nhttp {\ninclude /dev/null;\ninclude inc.conf;\n}\n");
        string inc = dir.Write("inc.conf", "\n\nbogus on;\n");
        var error = Assert.Single(NginxConfigLoader.LoadFile(main).Errors());
        Assert.Equal($"{inc}:3: unknown directive \"bogus\"", error.ToString());
    }

    [Fact]
    public void LoadFile_IncludeInsideLocation_AddsDirectivesThere()
    {
        using var dir = new ConfDir();
        string main = dir.Write("nginx.conf", """
            events {}
            http {
                server {
                    listen 127.0.0.1:18080;
                    location / {
                        proxy_pass http://127.0.0.1:18081;
                        include proxy_params;
                    }
                }
            }
            """);
        dir.Write("proxy_params", "proxy_set_header Host $host;\nproxy_set_header X-Real-IP $remote_addr;\n");
        var result = NginxConfigLoader.LoadFile(main);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        Assert.Equal(["Host", "X-Real-IP"], result.Config!.Servers[0].Locations[0].Settings.ProxySetHeaders.Select(h => h.Name));
    }

    [Fact]
    public void LoadFile_SelfInclude_ReportedNotRecursedForever()
    {
        using var dir = new ConfDir();
        string main = dir.Write("nginx.conf", "events {}\nhttp {\ninclude loop.conf;\n}\n");
        dir.Write("loop.conf", "include loop.conf;\n");
        Assert.Contains("includes itself", Assert.Single(NginxConfigLoader.LoadFile(main).Errors()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_MissingMainFile_ReportsOpenFailed()
    {
        var result = NginxConfigLoader.LoadFile("/nonexistent/fastproxy.conf");
        Assert.Equal("open() \"/nonexistent/fastproxy.conf\" failed (2: No such file or directory)", Assert.Single(result.Errors()).Message);
    }

    [Fact]
    public void Dump_PrintsEachFileUnderItsHeaderAsNginxT()
    {
        using var dir = new ConfDir();
        string main = dir.Write("nginx.conf", "events {}\nhttp { include inc.conf; include inc.conf; }\n");
        string inc = dir.Write("inc.conf", "server { listen 127.0.0.1:18080; }");
        // The second include declares the same server again; nginx -T still prints the file once.
        var dump = NginxConfigLoader.Dump(NginxConfigLoader.LoadFile(main));
        Assert.Equal($"# configuration file {main}:\nevents {{}}\nhttp {{ include inc.conf; include inc.conf; }}\n\n"
            + $"# configuration file {inc}:\nserver {{ listen 127.0.0.1:18080; }}\n\n", dump);
    }
}
