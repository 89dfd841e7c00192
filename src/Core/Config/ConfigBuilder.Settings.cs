using System.Net;

namespace FastProxy.Config;

internal sealed partial class ConfigBuilder
{
    /// <summary>The per-request settings that http, server and location blocks share.</summary>
    private void Setting(ConfDirective d, ConfContext context, SettingsDraft s, LocationDraft? location)
    {
        var a = d.Args;
        switch (d.Name)
        {
            case "proxy_pass":
                ProxyPass(d, s, location!);
                return;
            case "return":
                Return(d, s);
                return;
            case "rewrite":
                Rewrite(d, s);
                return;
            case "break":
                // ngx_http_rewrite_break: the rewrite module's directives end here.
                if (s.Return is null && !s.RewriteBreak)
                {
                    s.RewriteBreak = true;
                }
                return;
            case "proxy_set_header":
            {
                var value = AddTemplate(d, a[1]);
                if (value is not null)
                {
                    (s.ProxySetHeaders ??= []).Add(new HeaderTemplate(a[0], value));
                }
                return;
            }
            case "proxy_hide_header":
                (s.ProxyHideHeaders ??= []).Add(a[0]);
                return;
            case "proxy_pass_header":
                (s.ProxyPassHeaders ??= []).Add(a[0]);
                return;
            case "add_header":
            {
                if (a.Count == 3 && a[2] != "always")
                {
                    InvalidParameter(d, a[2]);
                    return;
                }
                var value = AddTemplate(d, a[1]);
                if (value is not null)
                {
                    (s.AddHeaders ??= []).Add(new AddHeaderConfig(a[0], value, a.Count == 3));
                }
                return;
            }
            case "proxy_redirect":
                ProxyRedirect(d, s);
                return;
            case "proxy_http_version":
                if (a[0] is not ("1.0" or "1.1"))
                {
                    Error(d, $"invalid value \"{a[0]}\" in \"{d.Name}\" directive, it must be \"1.0\" or \"1.1\"");
                    return;
                }
                s.ProxyHttpVersion = a[0];
                return;
            case "proxy_connect_timeout":
                s.ProxyConnectTimeout = Time(d, a[0]);
                return;
            case "proxy_read_timeout":
                s.ProxyReadTimeout = Time(d, a[0]);
                return;
            case "proxy_send_timeout":
                s.ProxySendTimeout = Time(d, a[0]);
                return;
            case "proxy_next_upstream":
                NextUpstream(d, s);
                return;
            case "proxy_next_upstream_tries":
                s.NextUpstreamTries = Number(d, a[0]);
                return;
            case "proxy_next_upstream_timeout":
                s.NextUpstreamTimeout = Time(d, a[0]);
                return;
            case "proxy_buffering":
                s.ProxyBuffering = Flag(d);
                return;
            case "client_max_body_size":
                s.ClientMaxBodySize = Size(d, a[0]);
                return;
            case "client_body_timeout":
                s.ClientBodyTimeout = Time(d, a[0]);
                return;
            case "client_header_timeout":
                s.ClientHeaderTimeout = Time(d, a[0]);
                return;
            case "keepalive_timeout":
                ServerWide(d, context);
                s.KeepaliveTimeout = Time(d, a[0], secondsOnly: false);
                if (a.Count == 2)
                {
                    Time(d, a[1]);
                    Warn(d, "the \"Keep-Alive: timeout=\" header value of \"keepalive_timeout\" is not sent");
                }
                return;
            case "keepalive_requests":
                ServerWide(d, context);
                s.KeepaliveRequests = Number(d, a[0]);
                return;
            case "large_client_header_buffers":
            {
                long? size = ConfigValues.TryParseSize(a[1], out long sz) && sz > 0 ? sz : null;
                if (!ConfigValues.TryParseInt(a[0], out int count) || count == 0 || size is null || size > int.MaxValue / count)
                {
                    InvalidValue(d);
                    return;
                }
                // The request line must fit one buffer; the whole head fits all of them (ngx_http_alloc_large_header_buffer).
                s.LargeClientHeaderBuffers = ((int)size, (int)size * count);
                return;
            }
            case "merge_slashes":
                s.MergeSlashes = Flag(d);
                return;
            case "limit_req":
                LimitReq(d, s);
                return;
            case "limit_req_status":
                s.LimitReqStatus = Status(d);
                return;
            case "limit_req_dry_run":
                s.LimitReqDryRun = Flag(d);
                return;
            case "limit_conn":
            {
                int? n = ConfigValues.TryParseInt(a[1], out int limit) && limit > 0 ? limit : null;
                if (n is null)
                {
                    Error(d, $"invalid number of connections \"{a[1]}\"");
                    return;
                }
                (s.LimitConns ??= []).Add(new LimitConnRuleConfig(a[0], limit));
                _zoneRefs.Add((a[0], false, d));
                return;
            }
            case "limit_conn_status":
                s.LimitConnStatus = Status(d);
                return;
            case "limit_conn_dry_run":
                s.LimitConnDryRun = Flag(d);
                return;
            case "allow":
            case "deny":
                AccessRule(d, s);
                return;
            case "limit_req_log_level":
                s.LimitReqLogLevel = LimitLogLevel(d);
                return;
            case "limit_conn_log_level":
                s.LimitConnLogLevel = LimitLogLevel(d);
                return;
            case "set_real_ip_from":
                if (a[0].StartsWith("unix:", StringComparison.Ordinal))
                {
                    (s.RealIpFrom ??= []).Add(a[0]);
                }
                else if (IPNetwork.TryParse(a[0], out var network))
                {
                    (s.RealIpFrom ??= []).Add(network.ToString());
                }
                else if (IPAddress.TryParse(a[0], out var address))
                {
                    (s.RealIpFrom ??= []).Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128).ToString());
                }
                else
                {
                    // nginx tries the text as a host name last (ngx_http_realip_from).
                    Error(d, $"host not found in set_real_ip_from \"{a[0]}\"");
                }
                return;
            case "real_ip_header":
                s.RealIpHeader = a[0];
                return;
            case "real_ip_recursive":
                s.RealIpRecursive = Flag(d);
                return;
            case "ssl_certificate":
                AddTemplate(d, a[0]);
                (s.SslCertificates ??= []).Add(a[0]);
                return;
            case "ssl_certificate_key":
                AddTemplate(d, a[0]);
                (s.SslCertificateKeys ??= []).Add(a[0]);
                return;
            case "ssl_protocols":
                s.SslProtocols = Protocols(d);
                return;
            case "ssl_ciphers":
                s.SslCiphers = a[0];
                return;
            case "ssl_prefer_server_ciphers":
                s.SslPreferServerCiphers = Flag(d);
                return;
            case "ssl_session_cache":
                foreach (var arg in a)
                {
                    if (arg is not ("off" or "none" or "builtin") && !arg.StartsWith("builtin:", StringComparison.Ordinal)
                        && !(arg.StartsWith("shared:", StringComparison.Ordinal) && arg.LastIndexOf(':') > 7
                             && ConfigValues.TryParseSize(arg.Substring(arg.LastIndexOf(':') + 1), out _)))
                    {
                        Error(d, $"invalid session cache \"{arg}\"");
                        return;
                    }
                }
                s.SslSessionCache = string.Join(' ', a);
                return;
            case "ssl_session_tickets":
                s.SslSessionTickets = Flag(d);
                return;
            case "ssl_session_timeout":
                s.SslSessionTimeout = Time(d, a[0]);
                return;
            case "ssl_password_file":
                s.SslPasswordFile = a[0];
                return;
            case "ssl_handshake_timeout":
                s.SslHandshakeTimeout = Time(d, a[0]);
                return;
            case "proxy_ssl_server_name":
                s.ProxySslServerName = Flag(d);
                return;
            case "proxy_ssl_name":
                s.ProxySslName = AddTemplate(d, a[0]);
                return;
            case "proxy_ssl_verify":
                s.ProxySslVerify = Flag(d);
                return;
            case "proxy_ssl_trusted_certificate":
                s.ProxySslTrustedCertificate = a[0];
                return;
            case "proxy_ssl_verify_depth":
                s.ProxySslVerifyDepth = Number(d, a[0]);
                return;
            case "proxy_ssl_certificate":
                s.ProxySslCertificate = a[0];
                return;
            case "proxy_ssl_certificate_key":
                s.ProxySslCertificateKey = a[0];
                return;
            case "proxy_ssl_password_file":
                s.ProxySslPasswordFile = a[0];
                return;
            case "proxy_ssl_protocols":
                s.ProxySslProtocols = Protocols(d);
                return;
            case "proxy_ssl_session_reuse":
                s.ProxySslSessionReuse = Flag(d);
                return;
            case "access_log":
                AccessLog(d, s);
                return;
        }
        throw new InvalidOperationException($"no handler for \"{d.Name}\"");
    }

    private readonly List<(string Zone, bool Req, ConfDirective Directive)> _zoneRefs = [];

    /// <summary>keepalive_timeout/keepalive_requests apply per connection: FastProxy takes the server's value.</summary>
    private void ServerWide(ConfDirective d, ConfContext context)
    {
        if (context == ConfContext.Location)
        {
            Warn(d, $"\"{d.Name}\" in a location is not acted on: FastProxy applies the server's value to the whole connection");
        }
    }

    private int? Status(ConfDirective d)
    {
        if (ConfigValues.TryParseInt(d.Args[0], out int n) && n is >= 400 and <= 599)
        {
            return n;
        }
        Error(d, "value must be between 400 and 599");
        return null;
    }

    private List<string>? Protocols(ConfDirective d)
    {
        var list = new List<string>();
        foreach (var p in d.Args)
        {
            if (p is not ("SSLv2" or "SSLv3" or "TLSv1" or "TLSv1.1" or "TLSv1.2" or "TLSv1.3"))
            {
                Error(d, $"invalid value \"{p}\" in \"{d.Name}\" directive");
                return null;
            }
            list.Add(p);
        }
        return list;
    }

    /// <summary>ngx_http_proxy_pass: "http[s]://host[:port][/uri]"; the URI part is refused where nginx refuses it.</summary>
    private void ProxyPass(ConfDirective d, SettingsDraft s, LocationDraft location)
    {
        string url = d.Args[0];
        string scheme;
        if (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            scheme = "http";
        }
        else if (url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            scheme = "https";
        }
        else
        {
            Error(d, $"invalid URL prefix in \"{url}\"");
            return;
        }
        string rest = url.Substring(scheme.Length + 3);
        if (url.Contains('$'))
        {
            Error(d, $"variables in \"proxy_pass\" are not supported by FastProxy in \"{url}\"");
            return;
        }
        if (rest.StartsWith("unix:", StringComparison.Ordinal))
        {
            Error(d, $"unix sockets in \"proxy_pass\" are not supported by FastProxy in \"{url}\"");
            return;
        }
        int slash = rest.IndexOf('/');
        string authority = slash < 0 ? rest : rest.Substring(0, slash);
        string? uri = slash < 0 ? null : rest.Substring(slash);
        if (!TrySplitHostPort(authority, out string host, out int? port))
        {
            Error(d, $"invalid port in upstream \"{authority}\"");
            return;
        }
        if (host.Length == 0)
        {
            Error(d, $"no host in upstream \"{authority}\"");
            return;
        }
        if (uri is not null && (location.Kind == LocationMatchKind.Named || location.IsRegex))
        {
            Error(d, "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, "
                + "or inside \"if\" statement, or inside \"limit_except\" block");
            return;
        }
        s.ProxyPass = new ProxyPassDraft
        {
            Config = new ProxyPassConfig { Scheme = scheme, Host = host, Port = port, Uri = uri, Url = d.Args[0] },
            Directive = d,
        };
    }

    /// <summary>Splits "host", "host:port", "[v6]" or "[v6]:port"; false on a bad port.</summary>
    internal static bool TrySplitHostPort(string authority, out string host, out int? port)
    {
        port = null;
        host = authority;
        int colon;
        if (authority.StartsWith('['))
        {
            int close = authority.IndexOf(']');
            if (close < 0)
            {
                return false;
            }
            host = authority.Substring(0, close + 1);
            if (close == authority.Length - 1)
            {
                return true;
            }
            if (authority[close + 1] != ':')
            {
                return false;
            }
            colon = close + 1;
        }
        else
        {
            colon = authority.LastIndexOf(':');
            if (colon < 0)
            {
                return true;
            }
            host = authority.Substring(0, colon);
        }
        if (!ConfigValues.TryParseInt(authority.Substring(colon + 1), out int p) || p is < 1 or > 65535)
        {
            return false;
        }
        port = p;
        return true;
    }

    /// <summary>ngx_http_rewrite_return: "return code [text]", "return code URL", or "return URL" (302).</summary>
    private void Return(ConfDirective d, SettingsDraft s)
    {
        if (s.Return is not null)
        {
            Warn(d, "\"return\" after another \"return\" in the same block is never reached");
            return;
        }
        if (s.RewriteBreak)
        {
            Warn(d, "\"return\" after \"break\" in the same block is never reached");
            return;
        }
        var a = d.Args;
        ReturnConfig? ret;
        if (ConfigValues.TryParseInt(a[0], out int code))
        {
            if (code > 999)
            {
                Error(d, $"invalid return code \"{a[0]}\"");
                return;
            }
            ValueTemplate? text = a.Count == 2 ? AddTemplate(d, a[1]) : null;
            if (a.Count == 2 && text is null)
            {
                return;
            }
            ret = new ReturnConfig(code, text);
        }
        else if (a.Count == 1 && (a[0].StartsWith("http://", StringComparison.Ordinal)
                 || a[0].StartsWith("https://", StringComparison.Ordinal) || a[0].StartsWith("$scheme", StringComparison.Ordinal)))
        {
            var url = AddTemplate(d, a[0]);
            if (url is null)
            {
                return;
            }
            ret = new ReturnConfig(302, url);
        }
        else
        {
            Error(d, $"invalid return code \"{a[0]}\"");
            return;
        }
        s.Return = ret;
        s.ReturnDirective = d;
    }

    /// <summary>ngx_http_rewrite: "rewrite regex replacement [last|break|redirect|permanent]".</summary>
    private void Rewrite(ConfDirective d, SettingsDraft s)
    {
        var a = d.Args;
        if (s.Return is not null || s.RewriteBreak)
        {
            Warn(d, $"\"rewrite\" after \"{(s.Return is not null ? "return" : "break")}\" in the same block is never reached");
            return;
        }
        var flag = RewriteFlag.None;
        if (a.Count == 3)
        {
            switch (a[2])
            {
                case "last":
                    flag = RewriteFlag.Last;
                    break;
                case "break":
                    flag = RewriteFlag.Break;
                    break;
                case "redirect":
                    flag = RewriteFlag.Redirect;
                    break;
                case "permanent":
                    flag = RewriteFlag.Permanent;
                    break;
                default:
                    InvalidParameter(d, a[2]);
                    return;
            }
        }
        if (CompileRegex(d, a[0], ignoreCase: false) is null)
        {
            return;
        }
        if (a[1].Length == 0)
        {
            Error(d, "empty replacement");
            return;
        }
        var replacement = AddTemplate(d, a[1]);
        if (replacement is null)
        {
            return;
        }
        // nginx: a replacement starting with http://, https:// or $scheme is a redirect (302 unless "permanent").
        if (flag is RewriteFlag.None or RewriteFlag.Last or RewriteFlag.Break
            && (a[1].StartsWith("http://", StringComparison.Ordinal) || a[1].StartsWith("https://", StringComparison.Ordinal)
                || a[1].StartsWith("$scheme", StringComparison.Ordinal)))
        {
            flag = RewriteFlag.Redirect;
        }
        s.Rewrites.Add(new RewriteConfig(a[0], replacement, flag));
    }

    /// <summary>ngx_http_access_rule: "allow|deny address | CIDR | unix: | all".</summary>
    private void AccessRule(ConfDirective d, SettingsDraft s)
    {
        string value = d.Args[0];
        if (value != "all" && value != "unix:")
        {
            if (!System.Text.Ascii.IsValid(value)
                || !FastProxy.RealIp.IpCidr.TryParse(System.Text.Encoding.ASCII.GetBytes(value), out _, out bool hostBits))
            {
                InvalidParameter(d, value);
                return;
            }
            if (hostBits)
            {
                Warn(d, $"low address bits of {value} are meaningless");
            }
        }
        (s.AccessRules ??= []).Add(new AccessRuleConfig(d.Name == "deny", value));
    }

    private void ProxyRedirect(ConfDirective d, SettingsDraft s)
    {
        var a = d.Args;
        // ngx_http_proxy_redirect: "off" together with anything else in one block is "is duplicate".
        if ((s.ProxyRedirects is { Count: 0 } && !s.ProxyRedirectDefault) || (a[0] == "off" && s.ProxyRedirects is not null))
        {
            Error(d, "\"proxy_redirect\" directive is duplicate");
            return;
        }
        if (a.Count == 1)
        {
            if (a[0] == "off")
            {
                s.ProxyRedirects = [];
                return;
            }
            if (a[0] == "default")
            {
                s.ProxyRedirects ??= [];
                s.ProxyRedirectDefault = true;
                s.ProxyRedirectDefaultIndex = s.ProxyRedirects.Count;
                return;
            }
            InvalidParameter(d, a[0]);
            return;
        }
        var replacement = AddTemplate(d, a[1]);
        if (replacement is not null)
        {
            (s.ProxyRedirects ??= []).Add(new ProxyRedirectConfig(a[0], replacement));
        }
    }

    private void NextUpstream(ConfDirective d, SettingsDraft s)
    {
        var conditions = NextUpstreamConditions.Off;
        foreach (var arg in d.Args)
        {
            NextUpstreamConditions c = arg switch
            {
                "off" => NextUpstreamConditions.Off,
                "error" => NextUpstreamConditions.Error,
                "timeout" => NextUpstreamConditions.Timeout,
                "invalid_header" => NextUpstreamConditions.InvalidHeader,
                "http_500" => NextUpstreamConditions.Http500,
                "http_502" => NextUpstreamConditions.Http502,
                "http_503" => NextUpstreamConditions.Http503,
                "http_504" => NextUpstreamConditions.Http504,
                "http_403" => NextUpstreamConditions.Http403,
                "http_404" => NextUpstreamConditions.Http404,
                "http_429" => NextUpstreamConditions.Http429,
                "non_idempotent" => NextUpstreamConditions.NonIdempotent,
                "denied" or "updating" => NextUpstreamConditions.Off,
                _ => (NextUpstreamConditions)(-1),
            };
            if ((int)c == -1)
            {
                Error(d, $"invalid value \"{arg}\"");
                return;
            }
            conditions |= c;
        }
        if (d.Args.Contains("off") && d.Args.Count > 1)
        {
            Error(d, "invalid value \"off\"");
            return;
        }
        s.NextUpstreamConditions = conditions;
    }

    /// <summary>limit_req_log_level / limit_conn_log_level: ngx_conf_set_enum_slot over info, notice, warn, error.</summary>
    private string? LimitLogLevel(ConfDirective d)
    {
        string value = d.Args[0];
        if (value is "info" or "notice" or "warn" or "error")
        {
            return value;
        }
        Error(d, $"invalid value \"{value}\"");
        return null;
    }

    private void LimitReq(ConfDirective d, SettingsDraft s)
    {
        string? zone = null;
        int burst = 0, delay = 0;
        bool nodelay = false;
        foreach (var arg in d.Args)
        {
            if (arg.StartsWith("zone=", StringComparison.Ordinal))
            {
                zone = arg.Substring(5);
            }
            else if (arg.StartsWith("burst=", StringComparison.Ordinal))
            {
                if (!ConfigValues.TryParseInt(arg.Substring(6), out burst))
                {
                    Error(d, $"invalid burst value \"{arg}\"");
                    return;
                }
            }
            else if (arg.StartsWith("delay=", StringComparison.Ordinal))
            {
                if (!ConfigValues.TryParseInt(arg.Substring(6), out delay))
                {
                    Error(d, $"invalid delay value \"{arg}\"");
                    return;
                }
            }
            else if (arg == "nodelay")
            {
                nodelay = true;
            }
            else
            {
                InvalidParameter(d, arg);
                return;
            }
        }
        if (zone is null || zone.Length == 0)
        {
            Error(d, $"\"{d.Name}\" must have \"zone\" parameter");
            return;
        }
        (s.LimitReqs ??= []).Add(new LimitReqRuleConfig(zone, burst, nodelay, delay));
        _zoneRefs.Add((zone, true, d));
    }

    private void AccessLog(ConfDirective d, SettingsDraft s)
    {
        var a = d.Args;
        s.AccessLogs ??= [];
        if (a[0] == "off")
        {
            if (a.Count > 1)
            {
                Error(d, "invalid number of arguments in \"access_log\" directive");
            }
            return;
        }
        string format = "combined";
        int buffer = 0;
        TimeSpan flush = TimeSpan.Zero;
        for (int i = 1; i < a.Count; i++)
        {
            string arg = a[i];
            if (i == 1 && !arg.Contains('='))
            {
                format = arg;
            }
            else if (arg.StartsWith("buffer=", StringComparison.Ordinal))
            {
                if (!ConfigValues.TryParseSize(arg.Substring(7), out long b) || b > int.MaxValue)
                {
                    Error(d, $"invalid buffer size \"{arg.Substring(7)}\"");
                    return;
                }
                buffer = (int)b;
            }
            else if (arg.StartsWith("flush=", StringComparison.Ordinal))
            {
                if (!ConfigValues.TryParseTime(arg.Substring(6), out flush))
                {
                    Error(d, $"invalid flush time \"{arg.Substring(6)}\"");
                    return;
                }
            }
            else if (arg == "gzip" || arg.StartsWith("gzip=", StringComparison.Ordinal))
            {
                Warn(d, "the \"gzip\" parameter of \"access_log\" is not acted on");
            }
            else if (arg.StartsWith("if=", StringComparison.Ordinal))
            {
                AddTemplate(d, arg.Substring(3));
                Warn(d, "the \"if\" parameter of \"access_log\" is not acted on: every request is logged");
            }
            else
            {
                InvalidParameter(d, arg);
                return;
            }
        }
        if (flush > TimeSpan.Zero && buffer == 0)
        {
            Error(d, $"no buffer is defined for access_log \"{a[0]}\"");
            return;
        }
        // ngx_http_log_set_log looks the format up at once: it must be declared earlier in the file.
        if (!_logFormats.ContainsKey(format))
        {
            Error(d, $"unknown log format \"{format}\"");
            return;
        }
        if (a[0].StartsWith("syslog:", StringComparison.Ordinal))
        {
            Warn(d, "syslog logging is not acted on");
            return;
        }
        // ngx_http_log_set_log: a file has one buffer, used by every directive that writes to it; two directives
        // giving it different buffer=/flush= values conflict (one without buffer= takes the other's).
        if (buffer > 0)
        {
            if (_accessLogFiles.TryGetValue(a[0], out var file) && (file.Buffer != buffer || file.Flush != flush))
            {
                Error(d, $"access_log \"{a[0]}\" already defined with conflicting parameters");
                return;
            }
            _accessLogFiles[a[0]] = (buffer, flush);
        }
        s.AccessLogs.Add((new AccessLogConfig(a[0], format, buffer, flush), d));
    }

    private void LogFormat(ConfDirective d)
    {
        var a = d.Args;
        if (_logFormats.ContainsKey(a[0]))
        {
            Error(d, $"duplicate \"log_format\" name \"{a[0]}\"");
            return;
        }
        int first = 1;
        if (a[1].StartsWith("escape=", StringComparison.Ordinal))
        {
            string escape = a[1].Substring(7);
            if (escape is not ("default" or "json" or "none"))
            {
                Error(d, $"unknown log format escaping \"{escape}\"");
                return;
            }
            if (escape != "default")
            {
                _logFormatEscapes[a[0]] = escape == "json" ? LogEscape.Json : LogEscape.None;
            }
            first = 2;
            if (a.Count < 3)
            {
                Error(d, "invalid number of arguments in \"log_format\" directive");
                return;
            }
        }
        var template = AddTemplate(d, string.Concat(a.Skip(first)));
        if (template is not null)
        {
            _logFormats[a[0]] = template;
        }
    }

    private void LimitReqZone(ConfDirective d)
    {
        ValueTemplate? key = null;
        string? name = null;
        long size = 0;
        long rateMilli = 0;
        foreach (var arg in d.Args)
        {
            if (arg.StartsWith("zone=", StringComparison.Ordinal))
            {
                if (!TryZone(d, arg, out name, out size))
                {
                    return;
                }
            }
            else if (arg.StartsWith("rate=", StringComparison.Ordinal))
            {
                // ngx_http_limit_req_zone: "Nr/s" or "Nr/m", kept as requests per second × 1000.
                string r = arg.Substring(5);
                int scale = r.EndsWith("r/s", StringComparison.Ordinal) ? 1 : r.EndsWith("r/m", StringComparison.Ordinal) ? 60 : 0;
                if (scale == 0 || !ConfigValues.TryParseInt(r.Substring(0, r.Length - 3), out int n) || n == 0)
                {
                    Error(d, $"invalid rate \"{arg}\"");
                    return;
                }
                rateMilli = n * 1000L / scale;
            }
            else if (arg == "sync")
            {
                Warn(d, "the \"sync\" parameter of \"limit_req_zone\" is not acted on");
            }
            else if (key is null && !arg.Contains('='))
            {
                key = AddTemplate(d, arg);
                if (key is null)
                {
                    return;
                }
            }
            else
            {
                InvalidParameter(d, arg);
                return;
            }
        }
        if (name is null)
        {
            Error(d, $"\"{d.Name}\" must have \"zone\" parameter");
            return;
        }
        if (rateMilli == 0)
        {
            Error(d, $"\"{d.Name}\" must have \"rate\" parameter");
            return;
        }
        if (key is null)
        {
            Error(d, "no key is defined for limit_req_zone \"" + name + "\"");
            return;
        }
        if (_limitReqZones.Find(z => z.Zone.Name == name).Zone is { } existing)
        {
            Error(d, $"limit_req_zone \"{name}\" is already bound to key \"{existing.Key.Source}\"");
            return;
        }
        _limitReqZones.Add((new LimitReqZoneConfig { Name = name, Key = key, SizeBytes = size, RateMilli = rateMilli }, d));
    }

    private void LimitConnZone(ConfDirective d)
    {
        var key = AddTemplate(d, d.Args[0]);
        if (key is null || !TryZone(d, d.Args[1], out string? name, out long size))
        {
            if (key is not null && !d.Args[1].StartsWith("zone=", StringComparison.Ordinal))
            {
                InvalidParameter(d, d.Args[1]);
            }
            return;
        }
        if (_limitConnZones.Find(z => z.Zone.Name == name).Zone is { } existing)
        {
            Error(d, $"limit_conn_zone \"{name}\" is already bound to key \"{existing.Key.Source}\"");
            return;
        }
        _limitConnZones.Add((new LimitConnZoneConfig { Name = name!, Key = key, SizeBytes = size }, d));
    }

    /// <summary>"zone=name:size" (ngx_http_limit_req_zone / ngx_http_limit_conn_zone); nginx needs at least 8 pages.</summary>
    private bool TryZone(ConfDirective d, string arg, out string? name, out long size)
    {
        name = null;
        size = 0;
        if (!arg.StartsWith("zone=", StringComparison.Ordinal))
        {
            return false;
        }
        string value = arg.Substring(5);
        int colon = value.LastIndexOf(':');
        if (colon <= 0 || !ConfigValues.TryParseSize(value.Substring(colon + 1), out size))
        {
            Error(d, $"invalid zone size \"{arg}\"");
            return false;
        }
        if (size < 8 * 4096)
        {
            Error(d, $"zone \"{arg}\" is too small");
            return false;
        }
        name = value.Substring(0, colon);
        return true;
    }

    /// <summary>ngx_http_core_location: modifiers, nesting rules, and the URI-less forms.</summary>
    private void Location(ConfDirective d, ServerDraft? server, LocationDraft? parent)
    {
        var a = d.Args;
        LocationMatchKind kind;
        string pattern;
        if (a.Count == 2)
        {
            pattern = a[1];
            switch (a[0])
            {
                case "=":
                    kind = LocationMatchKind.Exact;
                    break;
                case "^~":
                    kind = LocationMatchKind.PrefixNoRegex;
                    break;
                case "~":
                    kind = LocationMatchKind.Regex;
                    break;
                case "~*":
                    kind = LocationMatchKind.RegexCaseInsensitive;
                    break;
                default:
                    Error(d, $"invalid location modifier \"{a[0]}\"");
                    return;
            }
        }
        else
        {
            string name = a[0];
            // nginx also accepts the modifier glued to the name ("=/x", "~*\.png$", "^~/img/").
            if (name.Length > 1 && name[0] == '=')
            {
                (kind, pattern) = (LocationMatchKind.Exact, name.Substring(1));
            }
            else if (name.Length > 2 && name.StartsWith("^~", StringComparison.Ordinal))
            {
                (kind, pattern) = (LocationMatchKind.PrefixNoRegex, name.Substring(2));
            }
            else if (name.Length > 1 && name[0] == '~')
            {
                (kind, pattern) = name.Length > 2 && name[1] == '*'
                    ? (LocationMatchKind.RegexCaseInsensitive, name.Substring(2))
                    : (LocationMatchKind.Regex, name.Substring(1));
            }
            else if (name.Length > 1 && name[0] == '@')
            {
                (kind, pattern) = (LocationMatchKind.Named, name);
            }
            else
            {
                (kind, pattern) = (LocationMatchKind.Prefix, name);
            }
        }

        if (parent is not null)
        {
            if (parent.Kind == LocationMatchKind.Exact)
            {
                Error(d, $"location \"{pattern}\" cannot be inside the exact location \"{parent.Pattern}\"");
                return;
            }
            if (parent.Kind == LocationMatchKind.Named)
            {
                Error(d, $"location \"{pattern}\" cannot be inside the named location \"{parent.Pattern}\"");
                return;
            }
            if (kind == LocationMatchKind.Named)
            {
                Error(d, $"named location \"{pattern}\" can be on the server level only");
                return;
            }
            // A nested prefix must extend its parent's name (for a regex parent, its source text, as nginx compares).
            if (kind is not (LocationMatchKind.Regex or LocationMatchKind.RegexCaseInsensitive)
                && !pattern.StartsWith(parent.Pattern, StringComparison.Ordinal))
            {
                Error(d, $"location \"{pattern}\" is outside location \"{parent.Pattern}\"");
                return;
            }
        }
        if (kind is LocationMatchKind.Regex or LocationMatchKind.RegexCaseInsensitive
            && CompileRegex(d, pattern, kind == LocationMatchKind.RegexCaseInsensitive) is null)
        {
            return;
        }

        var location = new LocationDraft { Kind = kind, Pattern = pattern, Directive = d, Parent = parent };
        var siblings = parent?.Children ?? server!.Locations;
        // ngx_http_init_locations: two prefix locations with the same name and exactness (nginx lets named ones repeat).
        foreach (var other in siblings)
        {
            bool otherExact = other.Kind == LocationMatchKind.Exact;
            if (!other.IsRegex && !location.IsRegex && kind != LocationMatchKind.Named && other.Pattern == pattern
                && otherExact == (kind == LocationMatchKind.Exact))
            {
                Error(d, $"duplicate location \"{pattern}\"");
                return;
            }
        }
        siblings.Add(location);
        Walk(d.Block!, ConfContext.Location, location);
    }

    /// <summary>
    /// ngx_http_core_listen: "address[:port]" / "port" / "[v6]:port" / "*:port" / "name:port", then parameters.
    /// A host name listens on each of its addresses.
    /// </summary>
    private void Listen(ConfDirective d, ServerDraft server)
    {
        var a = d.Args;
        string target = a[0];
        if (target.StartsWith("unix:", StringComparison.Ordinal))
        {
            Error(d, $"unix sockets in \"listen\" are not supported by FastProxy in \"{target}\"");
            return;
        }
        var addresses = new List<IPAddress>();
        int port;
        if (ConfigValues.TryParseInt(target, out int bare))
        {
            port = bare;
            addresses.Add(IPAddress.Any);
        }
        else
        {
            if (!TrySplitHostPort(target, out string host, out int? p))
            {
                Error(d, $"invalid port in \"{target}\" of the \"listen\" directive");
                return;
            }
            port = p ?? 80;
            if (host == "*")
            {
                addresses.Add(IPAddress.Any);
            }
            else
            {
                var resolved = _resolver.Resolve(host);
                if (resolved is null)
                {
                    Error(d, $"host not found in \"{target}\" of the \"listen\" directive");
                    return;
                }
                addresses.AddRange(resolved.Distinct());
            }
        }
        if (port is < 1 or > 65535)
        {
            Error(d, $"invalid port in \"{target}\" of the \"listen\" directive");
            return;
        }

        bool isDefault = false, ssl = false, http2 = false, socketOptions = false;
        for (int i = 1; i < a.Count; i++)
        {
            string arg = a[i];
            switch (arg)
            {
                case "default_server" or "default":
                    isDefault = true;
                    continue;
                case "ssl":
                    ssl = true;
                    continue;
                case "http2":
                    http2 = true;
                    continue;
                case "reuseport" or "deferred" or "bind":
                    socketOptions = true;
                    if (arg != "bind")
                    {
                        Warn(d, $"the \"{arg}\" parameter of \"listen\" is not acted on");
                    }
                    continue;
                case "proxy_protocol" or "quic":
                    Error(d, $"the \"{arg}\" parameter of \"listen\" is not supported by FastProxy");
                    return;
            }
            int eq = arg.IndexOf('=');
            string key = eq < 0 ? arg : arg.Substring(0, eq + 1);
            string value = eq < 0 ? string.Empty : arg.Substring(eq + 1);
            switch (key)
            {
                case "backlog=":
                    if (!ConfigValues.TryParseInt(value, out int backlog) || backlog == 0)
                    {
                        Error(d, $"invalid backlog \"{value}\"");
                        return;
                    }
                    break;
                case "rcvbuf=" or "sndbuf=":
                    if (!ConfigValues.TryParseSize(value, out _))
                    {
                        Error(d, $"invalid {key.TrimEnd('=')} \"{value}\"");
                        return;
                    }
                    break;
                case "ipv6only=":
                    if (value is not ("on" or "off"))
                    {
                        Error(d, $"invalid ipv6only flags \"{value}\"");
                        return;
                    }
                    break;
                case "so_keepalive=" or "fastopen=" or "accept_filter=" or "setfib=":
                    break;
                default:
                    Error(d, $"invalid parameter \"{arg}\"");
                    return;
            }
            socketOptions = true;
            Warn(d, $"the \"{key.TrimEnd('=')}\" parameter of \"listen\" is not acted on");
        }
        foreach (var address in addresses)
        {
            var endPoint = new IPEndPoint(address, port);
            if (server.Listens.Exists(l => l.Config.EndPoint.Equals(endPoint)))
            {
                Error(d, $"a duplicate listen {Format(endPoint)}");
                continue;
            }
            server.Listens.Add(new ListenDraft
            {
                Config = new ListenConfig { EndPoint = endPoint, DefaultServer = isDefault, Ssl = ssl, Http2 = http2 },
                Directive = d,
                HasSocketOptions = socketOptions,
            });
        }
    }

    /// <summary>An end point as nginx prints it: "0.0.0.0:80", "[::1]:80".</summary>
    internal static string Format(IPEndPoint endPoint) => endPoint.ToString();
}
