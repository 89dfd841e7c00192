using FastProxy.LoadBalancing;

namespace FastProxy.Config.Tests;

public sealed class TypicalConfigTests
{
    [Fact]
    public void LoadFile_TypicalProductionReverseProxy_LoadsWithWarningsOnly()
    {
        using var dir = new ConfDir();
        dir.Write("mime.types", "types {\n    text/html html htm;\n    application/json json;\n}\n");
        string main = dir.Write("nginx.conf", """
            user nginx;
            worker_processes auto;
            error_log /var/log/nginx/error.log notice;
            pid /var/run/nginx.pid;
            events { worker_connections 1024; }
            http {
                include mime.types;
                default_type application/octet-stream;
                log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                                '$status $body_bytes_sent "$http_referer" '
                                '"$http_user_agent" "$http_x_forwarded_for"';
                access_log /var/log/nginx/access.log main;
                sendfile on;
                keepalive_timeout 65;
                server_tokens off;
                gzip on;
                gzip_types text/plain application/json;
                client_max_body_size 50m;

                upstream app {
                    least_conn;
                    server 127.0.0.1:3000 max_fails=3 fail_timeout=30s;
                    server 127.0.0.1:3001 backup;
                    keepalive 64;
                }

                map $http_upgrade $connection_upgrade {
                    default upgrade;
                    ''      close;
                }

                server {
                    listen 80;
                    listen [::]:80;
                    server_name example.com www.example.com;
                    return 301 https://$host$request_uri;
                }

                server {
                    listen 443 ssl http2;
                    listen [::]:443 ssl http2;
                    server_name example.com;

                    ssl_certificate /etc/letsencrypt/live/example.com/fullchain.pem;
                    ssl_certificate_key /etc/letsencrypt/live/example.com/privkey.pem;
                    ssl_session_cache shared:SSL:10m;
                    ssl_session_timeout 1d;
                    ssl_session_tickets off;
                    ssl_protocols TLSv1.2 TLSv1.3;
                    ssl_prefer_server_ciphers off;

                    add_header Strict-Transport-Security "max-age=63072000" always;

                    location / {
                        proxy_pass http://app;
                        proxy_http_version 1.1;
                        proxy_set_header Upgrade $http_upgrade;
                        proxy_set_header Connection $connection_upgrade;
                        proxy_set_header Host $host;
                        proxy_set_header X-Real-IP $remote_addr;
                        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                        proxy_set_header X-Forwarded-Proto $scheme;
                        proxy_read_timeout 90s;
                    }

                    location /static/ {
                        alias /var/www/static/;
                        expires 30d;
                    }

                    location = /favicon.ico { access_log off; log_not_found off; }

                    error_page 502 503 504 /50x.html;
                    location = /50x.html { root /usr/share/nginx/html; }
                }
            }
            """);
        var result = NginxConfigLoader.LoadFile(main);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var config = result.Config!;
        Assert.Equal("notice", config.ErrorLogLevel);
        Assert.Equal(2, config.Servers.Count);
        var tls = config.Servers[1];
        Assert.All(tls.Listens, l => Assert.True(l.Ssl && l.Http2));
        Assert.Equal(TimeSpan.FromDays(1), tls.Tls!.SessionTimeout);
        Assert.Equal(TimeSpan.FromSeconds(65), tls.KeepaliveTimeout);
        var root = tls.Locations[0].Settings;
        Assert.Equal("app", root.ProxyPass!.UpstreamName);
        Assert.Equal("main", Assert.Single(root.AccessLogs).Format);
        Assert.Equal("Strict-Transport-Security", Assert.Single(root.AddHeaders).Name);
        Assert.Equal(50L * 1024 * 1024, root.ClientMaxBodySize);
        Assert.Empty(tls.Locations[2].Settings.AccessLogs);
        var app = Assert.Single(config.Upstreams);
        Assert.Equal((LoadBalancingPolicies.LeastConnections, 64), (app.Policy, app.Keepalive));
        Assert.All(result.Diagnostics, d => Assert.False(d.IsError));
        Assert.All(result.Diagnostics, d => Assert.Contains("not acted on", d.Message, StringComparison.Ordinal));
    }
}
