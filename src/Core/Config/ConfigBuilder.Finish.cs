using System.Net;

namespace FastProxy.Config;

internal sealed partial class ConfigBuilder
{
    private readonly List<UpstreamConfig> _upstreamConfigs = [];

    private ProxyConfig Finish()
    {
        foreach (var upstream in _upstreams)
        {
            _upstreamConfigs.Add(BuildUpstream(upstream));
        }
        var http = _http ?? new SettingsDraft(ConfContext.Http);
        var servers = new List<ServerConfig>();
        foreach (var server in _servers)
        {
            servers.Add(BuildServer(http, server));
        }
        CheckListens();
        CheckZones();
        CheckVariables();
        return new ProxyConfig
        {
            Servers = servers,
            Upstreams = _upstreamConfigs,
            Maps = _maps,
            LimitReqZones = _limitReqZones.ConvertAll(z => z.Zone),
            LimitConnZones = _limitConnZones.ConvertAll(z => z.Zone),
            WorkerConnections = _workerConnections ?? 1024,
            ShutdownTimeout = _shutdownTimeout ?? TimeSpan.FromSeconds(10),
            LogFormats = new Dictionary<string, ValueTemplate>(_logFormats, StringComparer.Ordinal),
            LogFormatEscapes = new Dictionary<string, LogEscape>(_logFormatEscapes, StringComparer.Ordinal),
            ErrorLogPath = _errorLogPath,
            ErrorLogLevel = _errorLogLevel ?? "error",
            PidFile = _pidFile,
            Warnings = _warnings,
        };
    }

    private UpstreamConfig BuildUpstream(UpstreamDraft u)
    {
        var servers = new List<UpstreamServerConfig>();
        var serverLines = new List<ConfDirective>();
        foreach (var (server, host, port, d) in u.Servers)
        {
            if (server.Backup && u.Policy is "ip_hash" or "hash" or "random" or "random_two")
            {
                Error(d, "balancing method does not support parameter \"backup\"");
            }
            var addresses = _resolver.Resolve(host);
            if (addresses is null)
            {
                Error(d, $"host not found in upstream \"{d.Args[0]}\"");
                continue;
            }
            servers.Add(server with { EndPoints = [.. addresses.Distinct().Select(a => new IPEndPoint(a, port))] });
            serverLines.Add(d);
        }
        var upstream = new UpstreamConfig
        {
            Name = u.Name,
            Servers = servers,
            Policy = u.Policy,
            HashKey = u.HashKey,
            HashConsistent = u.HashConsistent,
            RandomTwo = u.RandomTwo,
            Keepalive = u.Keepalive ?? 32,
            KeepaliveTimeout = u.KeepaliveTimeout ?? TimeSpan.FromSeconds(60),
            KeepaliveRequests = u.KeepaliveRequests ?? 1000,
            HealthCheck = u.HealthCheck,
            Source = u.Directive.Location,
        };
        ValidateUpstream(u, upstream, serverLines, emptyExplained: servers.Count < u.Servers.Count || u.Servers.Count == 0);
        return upstream;
    }

    /// <summary>
    /// The load-balancing checks the engine would make (slow_start with a hash method, weights, an upstream of only
    /// backups...), with the built-in policies, reported at the line they are about. An embedder's own policy names
    /// cannot appear in a file; ProxyServer checks those against its registry when it starts.
    /// </summary>
    private void ValidateUpstream(UpstreamDraft u, UpstreamConfig upstream, List<ConfDirective> serverLines, bool emptyExplained)
    {
        var problems = new List<LoadBalancing.UpstreamProblem>();
        LoadBalancing.LoadBalancingPolicyRegistry.BuiltIn.Validate(upstream, problems);
        // A backup the method refuses already explains a group of only backups.
        emptyExplained |= problems.Exists(p => p.Kind == LoadBalancing.UpstreamProblemKind.BackupNotSupported);
        foreach (var problem in problems)
        {
            switch (problem.Kind)
            {
                case LoadBalancing.UpstreamProblemKind.BackupNotSupported:
                    continue; // reported above in nginx's words
                case LoadBalancing.UpstreamProblemKind.NoPrimary when emptyExplained:
                    continue; // "no servers are inside upstream", or a server line that failed, already says why
            }
            var line = problem.ServerIndex >= 0 && problem.ServerIndex < serverLines.Count ? serverLines[problem.ServerIndex]
                : problem.Kind == LoadBalancing.UpstreamProblemKind.UnknownPolicy ? u.PolicyDirective ?? u.Directive
                : u.Directive;
            Error(line, problem.Message);
        }
    }

    private ServerConfig BuildServer(SettingsDraft http, ServerDraft server)
    {
        var chain = new List<SettingsDraft> { http, server.Settings };
        if (server.Listens.Count == 0)
        {
            // nginx: a server without "listen" listens on *:80 (*:8000 when not started as root; FastProxy always uses 80).
            server.Listens.Add(new ListenDraft
            {
                Config = new ListenConfig { EndPoint = new IPEndPoint(IPAddress.Any, 80) },
                Directive = server.Directive,
                Implicit = true,
            });
        }
        var names = new List<string>();
        foreach (var (name, d) in server.Names)
        {
            if (name.Length > 0 && name[0] == '~')
            {
                CompileRegex(d, name.Substring(1), ignoreCase: true);
            }
            else if (name.Length > 0 && name[0] == '*' && (name.Length < 3 || name[1] != '.'))
            {
                // ngx_http_core_server_name
                Error(d, $"server name \"{name}\" is invalid");
                continue;
            }
            else
            {
                if (name.AsSpan().IndexOfAny('/', '\0') >= 0)
                {
                    Warn(d, $"server name \"{name}\" has suspicious symbols");
                }
                if (!ServerNameIsValid(name))
                {
                    // nginx accepts such a name ("w*w.example.com", "*.example.*") but no request can match it.
                    Warn(d, $"server name \"{name}\" is not a valid wildcard and matches no request");
                }
            }
            names.Add(name);
        }
        if (server.Names.Count == 0)
        {
            // nginx's default server_name is "".
            names.Add(string.Empty);
        }

        var settings = Merge(chain, location: null);
        var s = server.Settings;
        var tls = BuildServerTls(chain, server);
        var lineLimits = Inner(chain, x => x.LargeClientHeaderBuffers) ?? (8 * 1024, 4 * 8 * 1024);
        var locations = new List<LocationConfig>();
        foreach (var location in server.Locations)
        {
            locations.Add(BuildLocation(chain, location));
        }
        return new ServerConfig
        {
            Listens = server.Listens.ConvertAll(l => l.Config),
            ServerNames = names,
            Locations = locations,
            Settings = settings with { Return = s.Return, Rewrites = s.Rewrites, RewriteBreak = s.RewriteBreak },
            KeepaliveTimeout = Inner(chain, x => x.KeepaliveTimeout) ?? TimeSpan.FromSeconds(75),
            KeepaliveRequests = Inner(chain, x => x.KeepaliveRequests) ?? 1000,
            ClientHeaderTimeout = Inner(chain, x => x.ClientHeaderTimeout) ?? TimeSpan.FromSeconds(60),
            MaxRequestLineLength = lineLimits.Line,
            MaxHeadSize = lineLimits.Head,
            MergeSlashes = Inner(chain, x => x.MergeSlashes) ?? true,
            Tls = tls,
            Source = server.Directive.Location,
        };
    }

    private LocationConfig BuildLocation(List<SettingsDraft> outer, LocationDraft location)
    {
        var chain = new List<SettingsDraft>(outer) { location.Settings };
        var children = new List<LocationConfig>();
        foreach (var child in location.Children)
        {
            children.Add(BuildLocation(chain, child));
        }
        return new LocationConfig
        {
            MatchKind = location.Kind,
            Pattern = location.Pattern,
            Settings = Merge(chain, location),
            Locations = children,
            Source = location.Directive.Location,
        };
    }

    private static T? Inner<T>(List<SettingsDraft> chain, Func<SettingsDraft, T?> pick) where T : struct
    {
        for (int i = chain.Count - 1; i >= 0; i--)
        {
            if (pick(chain[i]) is T value)
            {
                return value;
            }
        }
        return null;
    }

    private static T? InnerRef<T>(List<SettingsDraft> chain, Func<SettingsDraft, T?> pick) where T : class
    {
        for (int i = chain.Count - 1; i >= 0; i--)
        {
            if (pick(chain[i]) is T value)
            {
                return value;
            }
        }
        return null;
    }

    /// <summary>
    /// nginx's merge for one location (or the server level when <paramref name="location"/> is null): a scalar set
    /// nowhere inside inherits the nearest outer value; an array directive (proxy_set_header, add_header,
    /// proxy_hide_header, limit_req, access_log, ...) set at a level replaces every outer occurrence.
    /// proxy_pass, return and rewrite belong to their own block only.
    /// </summary>
    private LocationSettings Merge(List<SettingsDraft> chain, LocationDraft? location)
    {
        var own = chain[^1];
        var proxyPass = location is null ? null : ResolveProxyPass(own.ProxyPass);
        var defaults = LocationSettings.Default;
        return new LocationSettings
        {
            ProxyPass = proxyPass,
            Return = location is null ? null : own.Return,
            Rewrites = location is null ? [] : own.Rewrites,
            RewriteBreak = location is not null && own.RewriteBreak,
            ProxySetHeaders = InnerRef(chain, x => x.ProxySetHeaders) ?? [],
            ProxyHideHeaders = InnerRef(chain, x => x.ProxyHideHeaders) ?? [],
            ProxyPassHeaders = InnerRef(chain, x => x.ProxyPassHeaders) ?? [],
            AddHeaders = InnerRef(chain, x => x.AddHeaders) ?? [],
            ProxyHttpVersion = InnerRef(chain, x => x.ProxyHttpVersion) ?? defaults.ProxyHttpVersion,
            ProxyConnectTimeout = Inner(chain, x => x.ProxyConnectTimeout) ?? defaults.ProxyConnectTimeout,
            ProxyReadTimeout = Inner(chain, x => x.ProxyReadTimeout) ?? defaults.ProxyReadTimeout,
            ProxySendTimeout = Inner(chain, x => x.ProxySendTimeout) ?? defaults.ProxySendTimeout,
            ClientMaxBodySize = Inner(chain, x => x.ClientMaxBodySize) ?? defaults.ClientMaxBodySize,
            ClientBodyTimeout = Inner(chain, x => x.ClientBodyTimeout) ?? defaults.ClientBodyTimeout,
            NextUpstream = new NextUpstreamConfig
            {
                Conditions = Inner(chain, x => x.NextUpstreamConditions) ?? NextUpstreamConfig.Default.Conditions,
                Tries = Inner(chain, x => x.NextUpstreamTries) ?? 0,
                Timeout = Inner(chain, x => x.NextUpstreamTimeout) ?? TimeSpan.Zero,
            },
            ProxyRedirects = MergeRedirects(chain, location, proxyPass),
            ProxyBuffering = Inner(chain, x => x.ProxyBuffering) ?? true,
            LimitReqs = InnerRef(chain, x => x.LimitReqs) ?? [],
            LimitReqStatus = Inner(chain, x => x.LimitReqStatus) ?? 503,
            LimitReqDryRun = Inner(chain, x => x.LimitReqDryRun) ?? false,
            LimitConns = InnerRef(chain, x => x.LimitConns) ?? [],
            LimitConnStatus = Inner(chain, x => x.LimitConnStatus) ?? 503,
            LimitConnDryRun = Inner(chain, x => x.LimitConnDryRun) ?? false,
            LimitReqLogLevel = InnerRef(chain, x => x.LimitReqLogLevel) ?? "error",
            LimitConnLogLevel = InnerRef(chain, x => x.LimitConnLogLevel) ?? "error",
            // ngx_http_log_module: with no access_log anywhere, logs/access.log in the combined format.
            AccessLogs = InnerRef(chain, x => x.AccessLogs)?.ConvertAll(l => l.Log)
                ?? [new AccessLogConfig("logs/access.log", "combined", 0, TimeSpan.Zero)],
            UpstreamTls = new UpstreamTlsConfig
            {
                ServerName = Inner(chain, x => x.ProxySslServerName) ?? false,
                Name = InnerRef(chain, x => x.ProxySslName),
                Verify = Inner(chain, x => x.ProxySslVerify) ?? false,
                TrustedCertificate = InnerRef(chain, x => x.ProxySslTrustedCertificate),
                VerifyDepth = Inner(chain, x => x.ProxySslVerifyDepth) ?? 1,
                ClientCertificate = InnerRef(chain, x => x.ProxySslCertificate) is string cert
                    ? new CertificateConfig(cert, InnerRef(chain, x => x.ProxySslCertificateKey) ?? string.Empty)
                    : null,
                PasswordFile = InnerRef(chain, x => x.ProxySslPasswordFile),
                Protocols = InnerRef(chain, x => x.ProxySslProtocols) ?? UpstreamTlsConfig.Default.Protocols,
                SessionReuse = Inner(chain, x => x.ProxySslSessionReuse) ?? true,
            },
            // ngx_http_access_merge_loc_conf: a level with any rule replaces the outer rules.
            AccessRules = InnerRef(chain, x => x.AccessRules) ?? [],
            RealIp = InnerRef(chain, x => x.RealIpFrom) is { } from
                ? new RealIpConfig
                {
                    TrustedCidrs = from,
                    Header = InnerRef(chain, x => x.RealIpHeader) ?? "X-Real-IP",
                    Recursive = Inner(chain, x => x.RealIpRecursive) ?? false,
                }
                : null,
        };
    }

    /// <summary>
    /// proxy_redirect: null = "default" alone (the engine rewrites from the proxy_pass URL), [] = off. "default"
    /// mixed with explicit entries is expanded here as nginx does: the proxy_pass URL becomes the location name
    /// (or, without a URI on proxy_pass, "URL/" becomes "/").
    /// </summary>
    private static List<ProxyRedirectConfig>? MergeRedirects(List<SettingsDraft> chain, LocationDraft? location, ProxyPassConfig? proxyPass)
    {
        SettingsDraft? level = null;
        for (int i = chain.Count - 1; i >= 0 && level is null; i--)
        {
            if (chain[i].ProxyRedirects is not null)
            {
                level = chain[i];
            }
        }
        if (level is null)
        {
            return null;
        }
        if (!level.ProxyRedirectDefault)
        {
            return level.ProxyRedirects;
        }
        if (level.ProxyRedirects!.Count == 0)
        {
            return null;
        }
        var result = new List<ProxyRedirectConfig>(level.ProxyRedirects);
        if (proxyPass is not null && location is not null)
        {
            // ngx_http_proxy_redirect "default": the proxy_pass URL as written becomes the location name; without a
            // URI (always so in regex and named locations), "URL/" becomes "/".
            string url = proxyPass.Url
                ?? $"{proxyPass.Scheme}://{proxyPass.Host}{(proxyPass.Port is int p && !proxyPass.IsNamedUpstream ? ":" + p : "")}{proxyPass.Uri}";
            result.Insert(level.ProxyRedirectDefaultIndex, proxyPass.Uri is null
                ? new ProxyRedirectConfig(url + "/", ValueTemplate.Parse("/"))
                : new ProxyRedirectConfig(url, ValueTemplate.Parse(location.Pattern)));
        }
        return result;
    }

    /// <summary>Binds proxy_pass to a named upstream, or to the implicit one-server group of its host:port.</summary>
    private ProxyPassConfig? ResolveProxyPass(ProxyPassDraft? draft)
    {
        if (draft is null)
        {
            return null;
        }
        var pp = draft.Config;
        var named = _upstreams.Find(u => string.Equals(u.Name, pp.Host, StringComparison.OrdinalIgnoreCase));
        if (named is not null)
        {
            if (pp.Port is int port)
            {
                Error(draft.Directive, $"upstream \"{named.Name}\" may not have port {port}");
                return null;
            }
            return pp with { Host = named.Name, IsNamedUpstream = true };
        }
        var resolved = pp with { Port = pp.Port ?? (pp.Scheme == "https" ? 443 : 80) };
        string name = resolved.UpstreamName;
        if (_upstreamConfigs.Exists(u => u.Name == name))
        {
            return resolved;
        }
        var addresses = _resolver.Resolve(pp.Host);
        if (addresses is null)
        {
            string url = draft.Directive.Args[0];
            string rest = url.Substring(url.IndexOf("//", StringComparison.Ordinal) + 2);
            int slash = rest.IndexOf('/');
            Error(draft.Directive, $"host not found in upstream \"{(slash < 0 ? rest : rest.Substring(0, slash))}\"");
            return null;
        }
        _upstreamConfigs.Add(new UpstreamConfig
        {
            Name = name,
            Servers =
            [
                new UpstreamServerConfig
                {
                    Address = name,
                    EndPoints = [.. addresses.Distinct().Select(a => new IPEndPoint(a, resolved.Port!.Value))],
                },
            ],
            Keepalive = 32,
            Implicit = true,
            Source = draft.Directive.Location,
        });
        return resolved;
    }

    private ServerTlsConfig? BuildServerTls(List<SettingsDraft> chain, ServerDraft server)
    {
        var sslListen = server.Listens.Find(l => l.Config.Ssl);
        if (sslListen is null)
        {
            return null;
        }
        var certs = InnerRef(chain, x => x.SslCertificates) ?? [];
        var keys = InnerRef(chain, x => x.SslCertificateKeys) ?? [];
        if (certs.Count == 0)
        {
            Error(sslListen.Directive, "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive");
        }
        else if (keys.Count < certs.Count)
        {
            Error(sslListen.Directive, $"no \"ssl_certificate_key\" is defined for certificate \"{certs[keys.Count]}\"");
        }
        var pairs = new List<CertificateConfig>();
        for (int i = 0; i < Math.Min(certs.Count, keys.Count); i++)
        {
            pairs.Add(new CertificateConfig(certs[i], keys[i]));
        }
        var defaults = new ServerTlsConfig();
        return new ServerTlsConfig
        {
            Certificates = pairs,
            Protocols = InnerRef(chain, x => x.SslProtocols) ?? defaults.Protocols,
            Ciphers = InnerRef(chain, x => x.SslCiphers),
            PreferServerCiphers = Inner(chain, x => x.SslPreferServerCiphers) ?? false,
            PasswordFile = InnerRef(chain, x => x.SslPasswordFile),
            SessionCache = InnerRef(chain, x => x.SslSessionCache),
            SessionTickets = Inner(chain, x => x.SslSessionTickets) ?? true,
            SessionTimeout = Inner(chain, x => x.SslSessionTimeout) ?? defaults.SessionTimeout,
            // nginx's http module bounds the handshake by client_header_timeout (ngx_http_ssl_handshake); its stream
            // module's ssl_handshake_timeout, accepted here in http and server too, overrides that when given.
            HandshakeTimeout = Inner(chain, x => x.SslHandshakeTimeout) ?? Inner(chain, x => x.ClientHeaderTimeout) ?? defaults.HandshakeTimeout,
        };
    }

    /// <summary>A wildcard may only be "*.rest", ".rest" or "rest.*" (ngx_http_server_names / ngx_hash_add_key).</summary>
    internal static bool ServerNameIsValid(string name)
    {
        int star = name.IndexOf('*');
        if (star < 0)
        {
            return name != ".";
        }
        if (name.IndexOf('*', star + 1) >= 0)
        {
            return false;
        }
        return (name.Length > 2 && name.StartsWith("*.", StringComparison.Ordinal))
            || (name.Length > 2 && name.EndsWith(".*", StringComparison.Ordinal));
    }

    /// <summary>
    /// ngx_http_optimize_servers: per address, at most one default_server, socket options on at most one listen;
    /// the same name in two servers of one address keeps the first ("conflicting server name", a warning).
    /// </summary>
    private void CheckListens()
    {
        var byEndPoint = new Dictionary<IPEndPoint, List<(ServerDraft Server, ListenDraft Listen)>>();
        var order = new List<IPEndPoint>();
        foreach (var server in _servers)
        {
            foreach (var listen in server.Listens)
            {
                if (!byEndPoint.TryGetValue(listen.Config.EndPoint, out var list))
                {
                    byEndPoint[listen.Config.EndPoint] = list = [];
                    order.Add(listen.Config.EndPoint);
                }
                list.Add((server, listen));
            }
        }
        foreach (var endPoint in order)
        {
            var list = byEndPoint[endPoint];
            string address = Format(endPoint);
            bool sawDefault = false, sawOptions = false, ssl = false, http2 = false;
            foreach (var (_, listen) in list)
            {
                if (listen.Config.DefaultServer)
                {
                    if (sawDefault)
                    {
                        Error(listen.Directive, $"a duplicate default server for {address}");
                    }
                    sawDefault = true;
                }
                if (listen.HasSocketOptions)
                {
                    if (sawOptions)
                    {
                        Error(listen.Directive, $"duplicate listen options for {address}");
                    }
                    sawOptions = true;
                }
                ssl |= listen.Config.Ssl;
                http2 |= listen.Config.Http2;
            }
            // nginx keeps one socket per address: "ssl"/"http2" on any listen of it apply to all of its servers.
            foreach (var (_, listen) in list)
            {
                if (listen.Config.Ssl != ssl || listen.Config.Http2 != http2)
                {
                    listen.Config = listen.Config with { Ssl = ssl, Http2 = http2 };
                }
            }
            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var seenServers = new HashSet<ServerDraft>();
            foreach (var (server, _) in list)
            {
                if (!seenServers.Add(server))
                {
                    continue;
                }
                var serverNames = server.Names.Count == 0 ? [(string.Empty, server.Directive)] : server.Names;
                foreach (var (name, d) in serverNames)
                {
                    if (name.StartsWith('~'))
                    {
                        continue;
                    }
                    // ".example.com" claims both "example.com" and "*.example.com" (ngx_hash_add_key).
                    bool conflict = name.StartsWith('.')
                        ? names.Contains(name.Substring(1)) || !names.Add("*" + name) || !names.Add(name.Substring(1))
                        : !names.Add(name);
                    if (conflict)
                    {
                        Warn(d, $"conflicting server name \"{name}\" on {address}, ignored");
                    }
                }
            }
        }
    }

    /// <summary>limit_req / limit_conn must name a declared zone of their kind.</summary>
    private void CheckZones()
    {
        foreach (var (zone, req, d) in _zoneRefs)
        {
            bool known = req ? _limitReqZones.Exists(z => z.Zone.Name == zone) : _limitConnZones.Exists(z => z.Zone.Name == zone);
            if (!known)
            {
                Error(d, req ? $"unknown limit_req_zone \"{zone}\"" : $"unknown limit_conn_zone \"{zone}\"");
            }
        }
    }

    /// <summary>
    /// Every $name must be built in, a map result, a "set" variable or a named regex capture: nginx fails with
    /// 'unknown "name" variable'. nginx variables FastProxy does not compute are accepted with a warning.
    /// </summary>
    private void CheckVariables()
    {
        foreach (var (template, d) in _templates)
        {
            foreach (var part in template.Parts)
            {
                if (part.IsLiteral || part.Variable != VariableKind.Named)
                {
                    continue;
                }
                string name = part.Name!;
                if (_definedVariables.Contains(name))
                {
                    continue;
                }
                if (_setVariables.Contains(name) || NginxVariables.IsKnownButNotComputed(name))
                {
                    Warn(d, $"the \"{name}\" variable is not computed by FastProxy: it is empty");
                    continue;
                }
                Error(d, $"unknown \"{name}\" variable");
            }
        }
    }
}

/// <summary>nginx variables FastProxy does not compute (ngx_http_variables.c and the stock modules).</summary>
internal static class NginxVariables
{
    private static readonly HashSet<string> Names = new(StringComparer.Ordinal)
    {
        "document_root", "realpath_root", "request_body", "request_body_file", "request_completion", "request_filename",
        "request_id", "limit_rate", "nginx_version", "pipe", "connection_time",
        "fastcgi_script_name", "fastcgi_path_info", "upstream_bytes_received", "upstream_bytes_sent",
        "upstream_response_length", "upstream_queue_time", "gzip_ratio", "invalid_referer",
        "date_local", "date_gmt", "http2", "binary_remote_addr", "server_protocol", "sent_http_",
        "proxy_protocol_addr", "proxy_protocol_port", "proxy_protocol_server_addr", "proxy_protocol_server_port",
        "tcpinfo_rtt", "tcpinfo_rttvar", "tcpinfo_snd_cwnd", "tcpinfo_rcv_space", "secure_link", "secure_link_expires",
        "uid_got", "uid_set", "uid_reset", "embedded_variable", "request_port", "is_request_port", "host_port",
        "proxy_internal_body_length", "proxy_internal_chunked", "geo", "mp4", "args_", "upstream_last_server_name",
    };

    private static readonly string[] Prefixes =
        ["sent_http_", "sent_trailer_", "upstream_http_", "upstream_trailer_", "upstream_cookie_", "ssl_", "jwt_", "geoip_"];

    public static bool IsKnownButNotComputed(string name)
    {
        if (Names.Contains(name))
        {
            return true;
        }
        foreach (var prefix in Prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }
}
