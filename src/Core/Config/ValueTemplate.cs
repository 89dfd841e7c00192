using System.Text;

namespace FastProxy.Config;

/// <summary>The variables FastProxy knows, resolved once when a template is compiled so evaluation is a switch.</summary>
public enum VariableKind
{
    /// <summary>Not a built-in: a <c>map</c> result (looked up by name at snapshot build) or unknown.</summary>
    Named = 0,
    Host,
    HttpHeader,          // $http_NAME (Argument = NAME with '_' for '-', lower case)
    CookieValue,         // $cookie_NAME
    ArgValue,            // $arg_NAME
    RemoteAddr,
    BinaryRemoteAddr,
    RemotePort,
    ProxyAddXForwardedFor,
    ProxyHost,
    ProxyPort,
    Scheme,
    Https,
    ServerName,
    ServerPort,
    ServerAddr,
    ServerProtocol,
    RequestUri,
    Uri,                 // also $document_uri
    Args,                // also $query_string
    IsArgs,
    Request,
    RequestMethod,
    RequestLength,
    RequestTime,
    Status,
    BodyBytesSent,
    BytesSent,
    TimeLocal,
    TimeIso8601,
    Msec,
    ConnectionSerial,
    ConnectionRequests,
    UpstreamAddr,
    UpstreamStatus,
    UpstreamResponseTime,
    UpstreamConnectTime,
    UpstreamHeaderTime,
    UpstreamCacheStatus,
    RemoteUser,
    HttpReferer,
    HttpUserAgent,
    RegexCapture,        // $1..$9 (Argument = digit)
    ContentLength,
    ContentType,
    Hostname,
    Pid,
    LimitReqStatus,      // $limit_req_status
    LimitConnStatus,     // $limit_conn_status
    RealIpRemoteAddr,    // $realip_remote_addr: the peer, before realip
    RealIpRemotePort,    // $realip_remote_port
}

/// <summary>One piece of a template: literal text or a variable reference.</summary>
public readonly record struct TemplatePart(string? Literal, VariableKind Variable, string? Name)
{
    public bool IsLiteral => Literal is not null;

    public static TemplatePart Text(string literal) => new(literal, VariableKind.Named, null);
}

/// <summary>
/// A string with nginx variables (<c>$host</c>, <c>${name}</c>, <c>$http_x_real_ip</c>), compiled once at load into
/// literal and variable parts. The engine evaluates it per request straight into an output buffer.
/// </summary>
public sealed class ValueTemplate : IEquatable<ValueTemplate>
{
    public static ValueTemplate Empty { get; } = new(string.Empty, []);

    private ValueTemplate(string source, TemplatePart[] parts)
    {
        Source = source;
        Parts = parts;
        if (parts.Length == 0)
        {
            LiteralBytes = [];
        }
        else if (parts.Length == 1 && parts[0].IsLiteral)
        {
            LiteralBytes = Encoding.UTF8.GetBytes(parts[0].Literal!);
        }
    }

    /// <summary>The text as written in the configuration.</summary>
    public string Source { get; }

    public IReadOnlyList<TemplatePart> Parts { get; }

    /// <summary>The bytes when the template has no variables (the common case), else null.</summary>
    public byte[]? LiteralBytes { get; }

    public bool IsLiteral => LiteralBytes is not null;

    public bool HasVariables => LiteralBytes is null;

    /// <summary>Compiles <paramref name="text"/>; returns an error message instead of throwing on bad syntax.</summary>
    public static ValueTemplate Parse(string text) =>
        TryParse(text, out var template, out var error) ? template : throw new FormatException(error);

    public static bool TryParse(string text, out ValueTemplate template, out string? error)
    {
        var parts = new List<TemplatePart>();
        var literal = new StringBuilder();
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (c != '$')
            {
                literal.Append(c);
                i++;
                continue;
            }
            // nginx: "$" followed by a name of [A-Za-z0-9_], or "${name}" when text follows immediately.
            int start = i + 1;
            string name;
            if (start < text.Length && text[start] == '{')
            {
                int close = text.IndexOf('}', start + 1);
                if (close < 0)
                {
                    template = Empty;
                    error = $"the closing bracket in \"{text}\" variable is missing";
                    return false;
                }
                name = text.Substring(start + 1, close - start - 1);
                i = close + 1;
            }
            else if (start < text.Length && char.IsAsciiDigit(text[start]))
            {
                // ngx_http_script_compile: "$" and one digit is a capture; what follows is text ("$1x" = $1 + "x").
                name = text.Substring(start, 1);
                i = start + 1;
            }
            else
            {
                int end = start;
                while (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_'))
                {
                    end++;
                }
                name = text.Substring(start, end - start);
                i = end;
            }
            if (name.Length == 0)
            {
                template = Empty;
                error = $"invalid variable name in \"{text}\"";
                return false;
            }
            if (literal.Length > 0)
            {
                parts.Add(TemplatePart.Text(literal.ToString()));
                literal.Clear();
            }
            parts.Add(Resolve(name));
        }
        if (literal.Length > 0)
        {
            parts.Add(TemplatePart.Text(literal.ToString()));
        }
        template = new ValueTemplate(text, [.. parts]);
        error = null;
        return true;
    }

    /// <summary>Maps a variable name (without '$') to its kind and argument.</summary>
    public static TemplatePart Resolve(string name)
    {
        if (name.Length == 1 && name[0] is >= '0' and <= '9')
        {
            return new(null, VariableKind.RegexCapture, name);
        }
        if (name.StartsWith("http_", StringComparison.Ordinal))
        {
            return name switch
            {
                "http_referer" => new(null, VariableKind.HttpReferer, "referer"),
                "http_user_agent" => new(null, VariableKind.HttpUserAgent, "user-agent"),
                "http_host" => new(null, VariableKind.HttpHeader, "host"),
                _ => new(null, VariableKind.HttpHeader, name.Substring(5).Replace('_', '-').ToLowerInvariant()),
            };
        }
        if (name.StartsWith("cookie_", StringComparison.Ordinal))
        {
            return new(null, VariableKind.CookieValue, name.Substring(7));
        }
        if (name.StartsWith("arg_", StringComparison.Ordinal))
        {
            return new(null, VariableKind.ArgValue, name.Substring(4));
        }
        VariableKind kind = name switch
        {
            "host" => VariableKind.Host,
            "remote_addr" => VariableKind.RemoteAddr,
            "binary_remote_addr" => VariableKind.BinaryRemoteAddr,
            "remote_port" => VariableKind.RemotePort,
            "proxy_add_x_forwarded_for" => VariableKind.ProxyAddXForwardedFor,
            "proxy_host" => VariableKind.ProxyHost,
            "proxy_port" => VariableKind.ProxyPort,
            "scheme" => VariableKind.Scheme,
            "https" => VariableKind.Https,
            "server_name" => VariableKind.ServerName,
            "server_port" => VariableKind.ServerPort,
            "server_addr" => VariableKind.ServerAddr,
            "server_protocol" => VariableKind.ServerProtocol,
            "request_uri" => VariableKind.RequestUri,
            "uri" or "document_uri" => VariableKind.Uri,
            "args" or "query_string" => VariableKind.Args,
            "is_args" => VariableKind.IsArgs,
            "request" => VariableKind.Request,
            "request_method" => VariableKind.RequestMethod,
            "request_length" => VariableKind.RequestLength,
            "request_time" => VariableKind.RequestTime,
            "status" => VariableKind.Status,
            "body_bytes_sent" => VariableKind.BodyBytesSent,
            "bytes_sent" => VariableKind.BytesSent,
            "time_local" => VariableKind.TimeLocal,
            "time_iso8601" => VariableKind.TimeIso8601,
            "msec" => VariableKind.Msec,
            "connection" => VariableKind.ConnectionSerial,
            "connection_requests" => VariableKind.ConnectionRequests,
            "upstream_addr" => VariableKind.UpstreamAddr,
            "upstream_status" => VariableKind.UpstreamStatus,
            "upstream_response_time" => VariableKind.UpstreamResponseTime,
            "upstream_connect_time" => VariableKind.UpstreamConnectTime,
            "upstream_header_time" => VariableKind.UpstreamHeaderTime,
            "upstream_cache_status" => VariableKind.UpstreamCacheStatus,
            "remote_user" => VariableKind.RemoteUser,
            "content_length" => VariableKind.ContentLength,
            "content_type" => VariableKind.ContentType,
            "hostname" => VariableKind.Hostname,
            "pid" => VariableKind.Pid,
            "limit_req_status" => VariableKind.LimitReqStatus,
            "limit_conn_status" => VariableKind.LimitConnStatus,
            "realip_remote_addr" => VariableKind.RealIpRemoteAddr,
            "realip_remote_port" => VariableKind.RealIpRemotePort,
            _ => VariableKind.Named,
        };
        return new(null, kind, name);
    }

    public bool Equals(ValueTemplate? other) => other is not null && other.Source == Source;

    public override bool Equals(object? obj) => Equals(obj as ValueTemplate);

    public override int GetHashCode() => Source.GetHashCode(StringComparison.Ordinal);

    public override string ToString() => Source;
}
