using System.Net;
using FastProxy.LoadBalancing;
using static FastProxy.Config.Tests.ConfigTestHelpers;

namespace FastProxy.Config.Tests;

public sealed class DirectiveTests
{
    [Fact]
    public void Merge_ProxySetHeaderInInnerBlock_ReplacesAllOuterOnes()
    {
        var config = LoadHttpOk("""
            proxy_set_header A http;
            proxy_set_header B http;
            server {
                listen 127.0.0.1:18080;
                location /inherit/ { proxy_pass http://127.0.0.1:18081; }
                location /replace/ {
                    proxy_pass http://127.0.0.1:18081;
                    proxy_set_header C loc;
                    location /replace/nested/ { }
                }
            }
            """);
        var server = config.Servers[0];
        Assert.Equal(["A", "B"], server.Settings.ProxySetHeaders.Select(h => h.Name));
        Assert.Equal(["A", "B"], server.Locations[0].Settings.ProxySetHeaders.Select(h => h.Name));
        Assert.Equal(["C"], server.Locations[1].Settings.ProxySetHeaders.Select(h => h.Name));
        Assert.Equal(["C"], server.Locations[1].Locations[0].Settings.ProxySetHeaders.Select(h => h.Name));
    }

    [Fact]
    public void Merge_ArrayDirectives_ReplacedAsAGroup()
    {
        var config = LoadHttpOk("""
            add_header X-A 1;
            proxy_hide_header X-Powered-By;
            limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;
            limit_req zone=z;
            access_log /tmp/outer.log;
            server {
                listen 127.0.0.1:18080;
                location /a/ { add_header X-B 2 always; proxy_hide_header Server; limit_req zone=z burst=5; access_log off; }
                location /b/ { }
            }
            """);
        var a = config.Servers[0].Locations[0].Settings;
        var b = config.Servers[0].Locations[1].Settings;
        Assert.Equal(new AddHeaderConfig("X-B", ValueTemplate.Parse("2"), true), Assert.Single(a.AddHeaders));
        Assert.Equal("X-A", Assert.Single(b.AddHeaders).Name);
        Assert.False(b.AddHeaders[0].Always);
        Assert.Equal(["Server"], a.ProxyHideHeaders);
        Assert.Equal(["X-Powered-By"], b.ProxyHideHeaders);
        Assert.Equal(5, Assert.Single(a.LimitReqs).Burst);
        Assert.Equal(0, Assert.Single(b.LimitReqs).Burst);
        Assert.Empty(a.AccessLogs);
        Assert.Equal("/tmp/outer.log", Assert.Single(b.AccessLogs).Path);
    }

    [Fact]
    public void Merge_Scalars_InheritUnlessSet()
    {
        var config = LoadHttpOk("""
            proxy_read_timeout 30s;
            client_max_body_size 10m;
            server {
                listen 127.0.0.1:18080;
                proxy_read_timeout 20s;
                location /a/ { client_max_body_size 0; location /a/b/ { proxy_read_timeout 5s; } }
                location /c/ { }
            }
            """);
        var server = config.Servers[0];
        var a = server.Locations[0];
        Assert.Equal(TimeSpan.FromSeconds(20), a.Settings.ProxyReadTimeout);
        Assert.Equal(0, a.Settings.ClientMaxBodySize);
        Assert.Equal(TimeSpan.FromSeconds(5), a.Locations[0].Settings.ProxyReadTimeout);
        Assert.Equal(0, a.Locations[0].Settings.ClientMaxBodySize);
        Assert.Equal(10L * 1024 * 1024, server.Locations[1].Settings.ClientMaxBodySize);
        Assert.Equal(TimeSpan.FromSeconds(60), server.Locations[1].Settings.ProxyConnectTimeout);
    }

    [Fact]
    public void Merge_NoAccessLogAnywhere_DefaultsToCombinedInLogsAccessLog()
    {
        var config = LoadHttpOk("server { listen 127.0.0.1:18080; location / { } }");
        Assert.Equal(new AccessLogConfig("logs/access.log", "combined", 0, TimeSpan.Zero),
            Assert.Single(config.Servers[0].Locations[0].Settings.AccessLogs));
        Assert.True(config.LogFormats.ContainsKey("combined"));
    }

    [Fact]
    public void Merge_ProxyPassReturnRewrite_NotInherited()
    {
        var config = LoadHttpOk("""
            server {
                listen 127.0.0.1:18080;
                rewrite ^/old/(.*)$ /new/$1 permanent;
                location /p/ {
                    proxy_pass http://127.0.0.1:18081;
                    location /p/static/ { }
                }
            }
            """);
        var server = config.Servers[0];
        Assert.Equal(new RewriteConfig("^/old/(.*)$", ValueTemplate.Parse("/new/$1"), RewriteFlag.Permanent), Assert.Single(server.Settings.Rewrites));
        Assert.Empty(server.Locations[0].Settings.Rewrites);
        Assert.NotNull(server.Locations[0].Settings.ProxyPass);
        Assert.Null(server.Locations[0].Locations[0].Settings.ProxyPass);
    }

    [Theory]
    [InlineData("return 404;", 404, null)]
    [InlineData("return 200 \"ok\\n\";", 200, "ok\n")]
    [InlineData("return 301 https://$host$request_uri;", 301, "https://$host$request_uri")]
    [InlineData("return https://example.com/;", 302, "https://example.com/")]
    [InlineData("return $scheme://x;", 302, "$scheme://x")]
    [InlineData("return 444;", 444, null)]
    public void Return_Forms_ParsedAsNginx(string directive, int status, string? text)
    {
        var config = LoadHttpOk("server { listen 127.0.0.1:18080; location / { " + directive + " } }");
        var ret = config.Servers[0].Locations[0].Settings.Return!;
        Assert.Equal(status, ret.StatusCode);
        Assert.Equal(text, ret.Text?.Source);
    }

    [Theory]
    [InlineData("rewrite ^/a /b;", RewriteFlag.None)]
    [InlineData("rewrite ^/a /b last;", RewriteFlag.Last)]
    [InlineData("rewrite ^/a /b break;", RewriteFlag.Break)]
    [InlineData("rewrite ^/a /b redirect;", RewriteFlag.Redirect)]
    [InlineData("rewrite ^/a /b permanent;", RewriteFlag.Permanent)]
    [InlineData("rewrite ^/a https://x/b;", RewriteFlag.Redirect)]
    public void Rewrite_Flags_ParsedAsNginx(string directive, RewriteFlag flag)
    {
        var config = LoadHttpOk("server { listen 127.0.0.1:18080; location / { " + directive + " } }");
        Assert.Equal(flag, Assert.Single(config.Servers[0].Locations[0].Settings.Rewrites).Flag);
    }

    [Theory]
    [InlineData("listen 8080;", "0.0.0.0:8080", false, false, false)]
    [InlineData("listen 127.0.0.1:8080;", "127.0.0.1:8080", false, false, false)]
    [InlineData("listen 127.0.0.1;", "127.0.0.1:80", false, false, false)]
    [InlineData("listen *:8080 default_server;", "0.0.0.0:8080", true, false, false)]
    [InlineData("listen [::1]:8080 default;", "[::1]:8080", true, false, false)]
    [InlineData("listen [::]:8443 ssl http2 reuseport backlog=511;", "[::]:8443", false, true, true)]
    public void Listen_Forms_ParsedAsNginx(string listen, string endPoint, bool isDefault, bool ssl, bool http2)
    {
        var config = LoadHttpOk("ssl_certificate /x.pem; ssl_certificate_key /x.key; server { " + listen + " }");
        var l = Assert.Single(config.Servers[0].Listens);
        Assert.Equal(IPEndPoint.Parse(endPoint), l.EndPoint);
        Assert.Equal(isDefault, l.DefaultServer);
        Assert.Equal(ssl, l.Ssl);
        Assert.Equal(http2, l.Http2);
    }

    [Fact]
    public void Listen_HostName_ListensOnEachAddress()
    {
        var config = LoadHttpOk("server { listen localhost:18080; }");
        Assert.Contains(config.Servers[0].Listens, l => l.EndPoint.Equals(new IPEndPoint(IPAddress.Loopback, 18080)));
    }

    [Fact]
    public void Listen_None_DefaultsToAllAddressesPort80()
    {
        var config = LoadHttpOk("server { }");
        Assert.Equal(new IPEndPoint(IPAddress.Any, 80), Assert.Single(config.Servers[0].Listens).EndPoint);
        Assert.Equal([""], config.Servers[0].ServerNames);
    }

    [Fact]
    public void Upstream_EveryServerParameterAndPolicy_Parsed()
    {
        var config = LoadHttpOk("""
            upstream a {
                hash $request_uri consistent;
                server 127.0.0.1:1 weight=3 max_fails=2 fail_timeout=30s max_conns=100;
                server 127.0.0.1:2 down;
                keepalive 16;
                keepalive_timeout 30s;
                keepalive_requests 500;
            }
            upstream b { ip_hash; server 127.0.0.1; }
            upstream c { random two least_conn; server 127.0.0.1:3; }
            upstream d { server 127.0.0.1:4 slow_start=10s; health_check interval=2s fails=3 passes=2 uri=/health; }
            server { listen 127.0.0.1:18080; location / { proxy_pass http://a; } }
            """);
        var a = config.Upstreams[0];
        Assert.Equal(LoadBalancingPolicies.Hash, a.Policy);
        Assert.Equal("$request_uri", a.HashKey!.Source);
        Assert.True(a.HashConsistent);
        var s = a.Servers[0];
        Assert.Equal((3, 2, TimeSpan.FromSeconds(30), 100), (s.Weight, s.MaxFails, s.FailTimeout, s.MaxConns));
        // slow_start is refused with hash methods (NGINX Plus), so it is read from the round-robin group.
        Assert.Equal(TimeSpan.FromSeconds(10), config.Upstreams[3].Servers[0].SlowStart);
        Assert.True(a.Servers[1].Down);
        Assert.Equal((16, TimeSpan.FromSeconds(30), 500), (a.Keepalive, a.KeepaliveTimeout, a.KeepaliveRequests));
        Assert.Equal(LoadBalancingPolicies.IpHash, config.Upstreams[1].Policy);
        Assert.Equal(80, config.Upstreams[1].Servers[0].EndPoints[0].Port);
        Assert.Equal(LoadBalancingPolicies.RandomTwo, config.Upstreams[2].Policy);
        Assert.True(config.Upstreams[2].RandomTwo);
        Assert.Equal(new HealthCheckConfig { Interval = TimeSpan.FromSeconds(2), Fails = 3, Passes = 2, Uri = "/health" }, config.Upstreams[3].HealthCheck);
        Assert.DoesNotContain(config.Upstreams, u => u.Implicit);
    }

    [Theory]
    [InlineData("upstream u { server 127.0.0.1:1 weight=0; }", "invalid parameter \"weight=0\"")]
    [InlineData("upstream u { server 127.0.0.1:1 bogus; }", "invalid parameter \"bogus\"")]
    [InlineData("upstream u { ip_hash; server 127.0.0.1:1 backup; }", "balancing method does not support parameter \"backup\"")]
    [InlineData("upstream u { server 127.0.0.1:1; } upstream U { server 127.0.0.1:1; }", "duplicate upstream \"U\"")]
    [InlineData("upstream u { server no-such-host.invalid:80; }", "host not found in upstream \"no-such-host.invalid:80\"")]
    [InlineData("limit_req_zone $binary_remote_addr zone=z:1m rate=10x;", "invalid rate \"rate=10x\"")]
    [InlineData("limit_req_zone $binary_remote_addr zone=z rate=1r/s;", "invalid zone size \"zone=z\"")]
    [InlineData("server { listen 127.0.0.1:1; limit_req zone=nope; }", "unknown limit_req_zone \"nope\"")]
    [InlineData("server { listen 127.0.0.1:1; limit_conn nope 1; }", "unknown limit_conn_zone \"nope\"")]
    [InlineData("server { listen 127.0.0.1:1; limit_req_status 200; }", "value must be between 400 and 599")]
    [InlineData("map $host $x { default a; default b; }", "duplicate default map parameter")]
    [InlineData("map $host $x { a 1; A 2; }", "conflicting parameter \"A\"")]
    [InlineData("map $host $host { }", "the duplicate \"host\" variable")]
    [InlineData("map $host x { }", "invalid variable name \"x\"")]
    [InlineData("log_format combined '$remote_addr';", "duplicate \"log_format\" name \"combined\"")]
    [InlineData("proxy_http_version 2.0;", "invalid value \"2.0\" in \"proxy_http_version\" directive, it must be \"1.0\" or \"1.1\"")]
    [InlineData("proxy_next_upstream error bogus;", "invalid value \"bogus\"")]
    [InlineData("proxy_next_upstream_tries abc;", "\"proxy_next_upstream_tries\" directive invalid number")]
    [InlineData("access_log /tmp/y combined flush=5m;", "no buffer is defined for access_log \"/tmp/y\"")]
    [InlineData("limit_req_zone $binary_remote_addr zone=z:1k rate=1r/s;", "zone \"zone=z:1k\" is too small")]
    [InlineData("limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s; limit_req_zone $uri zone=z:1m rate=1r/s;", "limit_req_zone \"z\" is already bound to key \"$binary_remote_addr\"")]
    [InlineData("set_real_ip_from 1.2.3.4/33;", "host not found in set_real_ip_from \"1.2.3.4/33\"")]
    [InlineData("server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:99999; } }", "invalid port in upstream \"127.0.0.1:99999\"")]
    [InlineData("server { listen 127.0.0.1:99999; }", "invalid port in \"127.0.0.1:99999\" of the \"listen\" directive")]
    [InlineData("server { listen 127.0.0.1:1 bogus; }", "invalid parameter \"bogus\"")]
    [InlineData("proxy_redirect off; proxy_redirect default;", "\"proxy_redirect\" directive is duplicate")]
    [InlineData("server { listen 127.0.0.1:1; return 1000; }", "invalid return code \"1000\"")]
    [InlineData("server { listen 127.0.0.1:1; return abc; }", "invalid return code \"abc\"")]
    [InlineData("server { listen 127.0.0.1:1; rewrite ^ /x foo; }", "invalid parameter \"foo\"")]
    [InlineData("server { listen 127.0.0.1:1; limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s; }", "\"limit_req_zone\" directive is not allowed here")]
    [InlineData("upstream u { server 127.0.0.1:1 fail_timeout=500ms; }", "invalid parameter \"fail_timeout=500ms\"")]
    [InlineData("map $host $a { default 1 2; }", "invalid number of the map parameters")]
    [InlineData("server { listen 127.0.0.1:1; location / { proxy_pass 127.0.0.1:1; } }", "invalid URL prefix in \"127.0.0.1:1\"")]
    [InlineData("server { listen 127.0.0.1:1; location ~ ( { } }", "invalid regular expression \"(\": Invalid pattern '(' at offset 1. Not enough )'s.")]
    public void LoadText_BadValue_ReportsError(string http, string message) =>
        Assert.Equal(message, Assert.Single(LoadHttp(http).Errors()).Message);

    [Fact]
    public void Map_EntriesDefaultAndHostnames_Parsed()
    {
        var config = LoadHttpOk("""
            map $http_host $backend {
                hostnames;
                default        b0;
                .example.com   b1;
                ~^api\.        b2;
                \default       b3;
                include        /dev/null;
            }
            server { listen 127.0.0.1:18080; location / { proxy_set_header X-Backend $backend; } }
            """);
        var map = Assert.Single(config.Maps);
        Assert.True(map.Hostnames);
        Assert.Equal("b0", map.Default.Source);
        Assert.Equal([".example.com", "~^api\\.", "\\default"], map.Entries.Select(e => e.Key));
    }

    [Fact]
    public void Variables_NamedCaptureFromServerName_IsKnown()
    {
        var result = LoadHttp("server { listen 127.0.0.1:18080; server_name ~^(?<user>.+)\\.example\\.net$; location / { proxy_set_header X-User $user; } }");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
    }

    [Fact]
    public void Variables_NginxVariableNotComputed_IsWarning()
    {
        var result = LoadHttp("server { listen 127.0.0.1:18080; location / { proxy_set_header X-Id $request_id; } }");
        Assert.True(result.Success);
        Assert.Contains(result.Warnings(), w => w.Message == "the \"request_id\" variable is not computed by FastProxy: it is empty");
    }

    [Fact]
    public void ProxyPass_SameHostTwice_SharesOneImplicitUpstream()
    {
        var config = LoadHttpOk("""
            server {
                listen 127.0.0.1:18080;
                location /a/ { proxy_pass http://127.0.0.1:18081/; }
                location /b/ { proxy_pass http://127.0.0.1:18081; }
                location /c/ { proxy_pass https://127.0.0.1; }
            }
            """);
        Assert.Equal(["127.0.0.1:18081", "127.0.0.1:443"], config.Upstreams.Select(u => u.Name));
        Assert.Equal(443, config.Servers[0].Locations[2].Settings.ProxyPass!.Port);
    }

    [Fact]
    public void ProxyPass_UpstreamDeclaredAfterUse_Resolves()
    {
        var config = LoadHttpOk("server { listen 127.0.0.1:18080; location / { proxy_pass http://Later; } } upstream later { server 127.0.0.1:1; }");
        var pp = config.Servers[0].Locations[0].Settings.ProxyPass!;
        Assert.True(pp.IsNamedUpstream);
        Assert.Equal("later", pp.UpstreamName);
    }

    [Fact]
    public void ServerTls_NoHandshakeTimeout_ClientHeaderTimeoutBoundsTheHandshake()
    {
        var config = LoadHttpOk("""
            client_header_timeout 7s;
            server { listen 127.0.0.1:18443 ssl; ssl_certificate a.pem; ssl_certificate_key a.key; }
            server { listen 127.0.0.1:18444 ssl; ssl_certificate a.pem; ssl_certificate_key a.key; client_header_timeout 3s; }
            """);

        Assert.Equal(TimeSpan.FromSeconds(7), config.Servers[0].Tls!.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), config.Servers[1].Tls!.HandshakeTimeout);
    }

    [Fact]
    public void ServerSettings_TimeoutsBuffersTls_Parsed()
    {
        var config = LoadHttpOk("""
            keepalive_timeout 30s;
            large_client_header_buffers 4 16k;
            ssl_protocols TLSv1.3;
            server {
                listen 127.0.0.1:18443 ssl;
                keepalive_requests 10;
                client_header_timeout 5s;
                merge_slashes off;
                ssl_certificate a.pem; ssl_certificate_key a.key;
                ssl_certificate b.pem; ssl_certificate_key b.key;
                ssl_session_cache shared:SSL:10m;
                ssl_session_timeout 1h;
                ssl_session_tickets off;
                ssl_handshake_timeout 10s;
                ssl_password_file /etc/keys/pass;
                set_real_ip_from 10.0.0.0/8;
                set_real_ip_from 192.168.1.1;
                real_ip_header X-Forwarded-For;
                real_ip_recursive on;
            }
            """);
        var s = config.Servers[0];
        Assert.Equal((TimeSpan.FromSeconds(30), 10, TimeSpan.FromSeconds(5), 16384, 65536, false),
            (s.KeepaliveTimeout, s.KeepaliveRequests, s.ClientHeaderTimeout, s.MaxRequestLineLength, s.MaxHeadSize, s.MergeSlashes));
        var tls = s.Tls!;
        Assert.Equal([new CertificateConfig("a.pem", "a.key"), new CertificateConfig("b.pem", "b.key")], tls.Certificates);
        Assert.Equal(["TLSv1.3"], tls.Protocols);
        Assert.Equal(("shared:SSL:10m", TimeSpan.FromHours(1), false, TimeSpan.FromSeconds(10), "/etc/keys/pass"),
            (tls.SessionCache, tls.SessionTimeout, tls.SessionTickets, tls.HandshakeTimeout, tls.PasswordFile));
        var realIp = s.Settings.RealIp!;
        Assert.Equal(["10.0.0.0/8", "192.168.1.1/32"], realIp.TrustedCidrs);
        Assert.Equal(("X-Forwarded-For", true), (realIp.Header, realIp.Recursive));
    }

    [Fact]
    public void LocationSettings_ProxyDirectives_Parsed()
    {
        var config = LoadHttpOk("""
            server {
                listen 127.0.0.1:18080;
                location / {
                    proxy_pass https://127.0.0.1:18444;
                    proxy_http_version 1.0;
                    proxy_send_timeout 1m30s;
                    proxy_next_upstream error timeout http_502 non_idempotent;
                    proxy_next_upstream_tries 3;
                    proxy_next_upstream_timeout 10s;
                    proxy_buffering off;
                    proxy_pass_header Server;
                    proxy_redirect http://a/ /b/;
                    client_body_timeout 15s;
                    limit_req_dry_run on;
                    limit_conn_status 429;
                    proxy_ssl_server_name on;
                    proxy_ssl_name backend.internal;
                    proxy_ssl_verify on;
                    proxy_ssl_trusted_certificate /etc/ca.pem;
                    proxy_ssl_verify_depth 2;
                    proxy_ssl_protocols TLSv1.3;
                    proxy_ssl_certificate /c.pem;
                    proxy_ssl_certificate_key /c.key;
                    proxy_ssl_password_file /c.pass;
                    proxy_ssl_session_reuse off;
                    access_log /tmp/a.log combined buffer=32k flush=5s;
                }
                location /off/ { proxy_redirect off; proxy_next_upstream off; }
            }
            """);
        var l = config.Servers[0].Locations[0].Settings;
        Assert.Equal(("1.0", TimeSpan.FromSeconds(90), TimeSpan.FromSeconds(15), false, 429, true),
            (l.ProxyHttpVersion, l.ProxySendTimeout, l.ClientBodyTimeout, l.ProxyBuffering, l.LimitConnStatus, l.LimitReqDryRun));
        Assert.Equal(NextUpstreamConditions.Error | NextUpstreamConditions.Timeout | NextUpstreamConditions.Http502 | NextUpstreamConditions.NonIdempotent,
            l.NextUpstream.Conditions);
        Assert.Equal((3, TimeSpan.FromSeconds(10)), (l.NextUpstream.Tries, l.NextUpstream.Timeout));
        Assert.Equal(["Server"], l.ProxyPassHeaders);
        Assert.Equal(new ProxyRedirectConfig("http://a/", ValueTemplate.Parse("/b/")), Assert.Single(l.ProxyRedirects!));
        var tls = l.UpstreamTls;
        Assert.True(tls.ServerName && tls.Verify && !tls.SessionReuse);
        Assert.Equal(("backend.internal", "/etc/ca.pem", 2), (tls.Name!.Source, tls.TrustedCertificate, tls.VerifyDepth));
        Assert.Equal(new CertificateConfig("/c.pem", "/c.key"), tls.ClientCertificate);
        Assert.Equal("/c.pass", tls.PasswordFile);
        Assert.Equal(new AccessLogConfig("/tmp/a.log", "combined", 32 * 1024, TimeSpan.FromSeconds(5)), Assert.Single(l.AccessLogs));
        var off = config.Servers[0].Locations[1].Settings;
        Assert.Empty(off.ProxyRedirects!);
        Assert.Equal(NextUpstreamConditions.Off, off.NextUpstream.Conditions);
        Assert.Null(config.Servers[0].Settings.ProxyRedirects);
    }

    [Fact]
    public void ProxyRedirect_DefaultWithOthers_ExpandedFromProxyPass()
    {
        var config = LoadHttpOk("""
            server {
                listen 127.0.0.1:18080;
                proxy_redirect default;
                proxy_redirect http://old/ /;
                location /one/ { proxy_pass http://127.0.0.1:18081/two/; }
            }
            """);
        Assert.Equal([new ProxyRedirectConfig("http://127.0.0.1:18081/two/", ValueTemplate.Parse("/one/")), new ProxyRedirectConfig("http://old/", ValueTemplate.Parse("/"))],
            config.Servers[0].Locations[0].Settings.ProxyRedirects);
    }

    [Fact]
    public void Main_PidErrorLogWorkerConnectionsShutdown_Parsed()
    {
        var result = LoadText("pid /run/fp.pid;\nerror_log /var/log/fp.log warn;\nworker_shutdown_timeout 30s;\nevents { worker_connections 4096; }\n");
        var config = result.Config!;
        Assert.Equal(("/run/fp.pid", "/var/log/fp.log", "warn", 4096, TimeSpan.FromSeconds(30)),
            (config.PidFile, config.ErrorLogPath, config.ErrorLogLevel, config.WorkerConnections, config.ShutdownTimeout));
    }

    [Fact]
    public void LogFormat_DeclaredAfterUse_UnknownAsInNginx() =>
        Assert.Equal("unknown log format \"main\"",
            Assert.Single(LoadHttp("server { listen 127.0.0.1:1; access_log /tmp/x main; }\nlog_format main '$status';").Errors()).Message);

    [Fact]
    public void Map_SameVariableTwice_LastWinsWithWarning()
    {
        var result = LoadHttp("map $host $a { default 1; }\nmap $host $a { default 2; }");
        Assert.True(result.Success);
        Assert.Equal("2", Assert.Single(result.Config!.Maps).Default.Source);
        Assert.Single(result.Warnings(), w => w.Message.Contains("earlier map", StringComparison.Ordinal));
    }

    [Fact]
    public void Location_NamedTwice_AcceptedAsNginx() =>
        Assert.True(LoadHttp("server { listen 127.0.0.1:1; location @a { } location @a { } }").Success);

    [Fact]
    public void Variables_MapDeclaredAfterUse_Known() =>
        Assert.True(LoadHttp("server { listen 127.0.0.1:1; return 200 $y; }\nmap $host $y { default b; }").Success);

    [Fact]
    public void LogFormat_StringsConcatenated()
    {
        var config = LoadHttpOk("log_format main '$remote_addr - $status '\n    '\"$request\"';\nserver { listen 127.0.0.1:1; access_log /tmp/x main; }");
        Assert.Equal("$remote_addr - $status \"$request\"", config.LogFormats["main"].Source);
    }

    [Fact]
    public void LogFormat_EscapeParameter_RecordedWithoutWarning()
    {
        var result = LoadHttp("log_format j escape=json '{\"s\":\"$status\"}';\nlog_format n escape=none '$status';\n" +
            "log_format d escape=default '$status';\nserver { listen 127.0.0.1:1; access_log /tmp/x j; }");
        Assert.True(result.Success);
        Assert.Empty(result.Warnings());
        var escapes = result.Config!.LogFormatEscapes;
        Assert.Equal((LogEscape.Json, LogEscape.None, LogEscape.Default),
            (escapes["j"], escapes["n"], escapes.GetValueOrDefault("d", LogEscape.Default)));
    }

    // nginx 1.22: two buffer= values for one file conflict; a directive without buffer= takes the file's buffer.
    [Theory]
    [InlineData("buffer=4k", "buffer=8k", false)]
    [InlineData("buffer=4k flush=1s", "buffer=4k flush=2s", false)]
    [InlineData("", "buffer=8k", true)]
    [InlineData("buffer=8k", "", true)]
    [InlineData("buffer=8k", "buffer=8k", true)]
    public void AccessLog_SameFileTwoBuffers_ConflictAsNginx(string first, string second, bool ok)
    {
        var result = LoadHttp($"server {{ listen 127.0.0.1:1; access_log /tmp/x.log combined {first}; location / {{ access_log /tmp/x.log combined {second}; }} }}");
        Assert.Equal(ok, result.Success);
        if (!ok)
        {
            Assert.Equal("access_log \"/tmp/x.log\" already defined with conflicting parameters", Assert.Single(result.Errors()).Message);
        }
    }
}
