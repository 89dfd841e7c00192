using System.Buffers;
using System.Buffers.Text;
using System.Text;
using FastProxy.Config;
using FastProxy.Http;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.RateLimiting;
using FastProxy.Runtime;

namespace FastProxy.Forwarding;

/// <summary>
/// Evaluates nginx variables straight into bytes. Every evaluation comes in two steps that share one code path:
/// measure (how many bytes) and write (into a span at least that long). Header writing needs the measure anyway,
/// because an empty value removes the header (nginx) and must be known before the name is written. Most variables
/// are slices of the request head or of per-connection bytes, so both steps are copies at most.
/// </summary>
internal static class VariableEvaluator
{
    // nginx reports "cycle while evaluating variable"; a map chain deeper than this evaluates to empty instead.
    private const int MaxMapDepth = 8;

    private static readonly byte[] s_hostname = Encoding.UTF8.GetBytes(Environment.MachineName.ToLowerInvariant());
    private static readonly byte[] s_pid = Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static int Measure(CompiledTemplate template, RequestContext context) =>
        Evaluate(template, context, default, measure: true, depth: 0);

    /// <summary>Writes the value into <paramref name="destination"/>, which must hold <see cref="Measure"/> bytes.</summary>
    public static int Write(CompiledTemplate template, RequestContext context, Span<byte> destination) =>
        Evaluate(template, context, destination, measure: false, depth: 0);

    /// <summary>Writes a value of known length (from <see cref="Measure"/>) into a writer.</summary>
    public static void Write(CompiledTemplate template, RequestContext context, int length, ref BufferWriter writer)
    {
        if (template.Literal is { } literal)
        {
            writer.Write(literal);
            return;
        }
        var span = writer.GetSpan(length);
        int written = Evaluate(template, context, span, measure: false, depth: 0);
        writer.Advance(written);
    }

    /// <summary>The length of one variable part (the access log escapes each variable's value on its own).</summary>
    public static int MeasurePart(in CompiledPart part, RequestContext context) =>
        EvaluatePart(in part, context, default, measure: true, depth: 0);

    /// <summary>Writes one variable part into <paramref name="destination"/>, which must hold <see cref="MeasurePart"/> bytes.</summary>
    public static int WritePart(in CompiledPart part, RequestContext context, Span<byte> destination) =>
        EvaluatePart(in part, context, destination, measure: false, depth: 0);

    /// <summary>
    /// Writes a value into a header field. $uri is decoded, so "%0D%0A" in a path (or a capture of it) would end the
    /// field and start another one the client chose; CR, LF and NUL therefore become SP, as RFC 9110 §5.5 allows a
    /// recipient to do (nginx writes them as they are: the well-known CRLF injection of "$uri" in headers).
    /// </summary>
    public static void WriteFieldValue(CompiledTemplate template, RequestContext context, int length, ref BufferWriter writer)
    {
        if (template.Literal is { } literal)
        {
            writer.Write(literal);
            return;
        }
        var span = writer.GetSpan(length);
        int written = Evaluate(template, context, span, measure: false, depth: 0);
        var value = span[..written];
        int bad = value.IndexOfAny((byte)'\r', (byte)'\n', (byte)0);
        if (bad >= 0)
        {
            value = value[bad..];
            for (int i = 0; i < value.Length; i++)
            {
                if (value[i] is (byte)'\r' or (byte)'\n' or 0)
                {
                    value[i] = (byte)' ';
                }
            }
        }
        writer.Advance(written);
    }

    private static int Evaluate(CompiledTemplate template, RequestContext context, Span<byte> destination, bool measure, int depth)
    {
        if (template.Literal is { } literal)
        {
            return Put(literal, destination, measure);
        }
        int total = 0;
        foreach (ref readonly var part in template.Parts.AsSpan())
        {
            total += EvaluatePart(in part, context, measure ? default : destination[total..], measure, depth);
        }
        return total;
    }

    internal static int EvaluatePart(in CompiledPart part, RequestContext context, Span<byte> destination, bool measure, int depth)
    {
        if (part.Literal is { } literal)
        {
            return Put(literal, destination, measure);
        }
        switch (part.Kind)
        {
            case VariableKind.ProxyAddXForwardedFor:
                return ProxyAddXForwardedFor(context, destination, measure);
            case VariableKind.Named:
                if (part.Map is { } map)
                {
                    return depth < MaxMapDepth ? EvaluateMap(map, context, destination, measure, depth + 1) : 0;
                }
                return part.Argument is { } name ? Put(context.NamedCaptureValue(name), destination, measure) : 0;
            case VariableKind.RegexCapture:
                return Put(context.Capture(part.Argument![0] - '0'), destination, measure);
            default:
                Span<byte> scratch = stackalloc byte[32];
                return Put(Value(in part, context, scratch), destination, measure);
        }
    }

    private static int Put(scoped ReadOnlySpan<byte> value, Span<byte> destination, bool measure)
    {
        if (!measure)
        {
            value.CopyTo(destination);
        }
        return value.Length;
    }

    /// <summary>The value of every variable that is one span (a slice of the head, a connection field, a number).</summary>
    private static ReadOnlySpan<byte> Value(in CompiledPart part, RequestContext context, Span<byte> scratch)
    {
        var head = context.Head;
        switch (part.Kind)
        {
            case VariableKind.Host:
                return context.Host.Length > 0 ? context.Host : context.Server.ServerNameBytes;
            case VariableKind.HttpHeader:
            case VariableKind.HttpReferer:
            case VariableKind.HttpUserAgent:
                return Field(context, part.Argument);
            case VariableKind.ContentLength:
                return Field(context, "content-length"u8);
            case VariableKind.ContentType:
                return Field(context, "content-type"u8);
            case VariableKind.CookieValue:
                return Cookie(context, part.Argument);
            case VariableKind.ArgValue:
                return Argument(Query(context), part.Argument);
            case VariableKind.RemoteAddr:
                return context.RemoteAddr;
            case VariableKind.BinaryRemoteAddr:
                return context.BinaryRemoteAddr;
            case VariableKind.RemotePort:
                return context.RemotePort;
            case VariableKind.ProxyHost:
                return context.LocationRuntime?.ProxyHost ?? default;
            case VariableKind.ProxyPort:
                return context.LocationRuntime?.ProxyPort ?? default;
            case VariableKind.Scheme:
                return context.ConnectionScheme;
            case VariableKind.Https:
                return context.IsHttps ? "on"u8 : default; // nginx: "on" on an SSL connection, else empty
            case VariableKind.ServerName:
                return context.Server.ServerNameBytes;
            case VariableKind.ServerPort:
                return context.ServerPort;
            case VariableKind.ServerAddr:
                return context.ServerAddr;
            case VariableKind.ServerProtocol:
                return head.Version == Http1Version.Http10 ? "HTTP/1.0"u8 : "HTTP/1.1"u8;
            case VariableKind.RequestUri:
                return RequestUri(context);
            case VariableKind.Uri:
                return context.Uri;
            case VariableKind.Args:
                return Query(context);
            case VariableKind.IsArgs:
                // nginx: "?" when r->args is not empty (a bare "?" in the request leaves it empty).
                return context.Args.IsEmpty ? default : "?"u8;
            case VariableKind.Request:
            {
                var bytes = context.HeadBytes;
                int cr = bytes.IndexOf((byte)'\r');
                return cr < 0 ? default : bytes[..cr];
            }
            case VariableKind.RequestMethod:
                return context.HeadBytes[..head.MethodLength];
            case VariableKind.ConnectionSerial:
                return Format(context.ConnectionSerial, scratch);
            case VariableKind.ConnectionRequests:
                return Format(context.ConnectionRequests, scratch);
            case VariableKind.Msec:
            {
                long ms = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                Utf8Formatter.TryFormat(ms / 1000, scratch, out int n);
                scratch[n++] = (byte)'.';
                long frac = ms % 1000;
                scratch[n++] = (byte)('0' + frac / 100);
                scratch[n++] = (byte)('0' + frac / 10 % 10);
                scratch[n++] = (byte)('0' + frac % 10);
                return scratch[..n];
            }
            case VariableKind.Hostname:
                return s_hostname;
            case VariableKind.Pid:
                return s_pid;
            case VariableKind.UpstreamAddr:
                return context.Upstream.Addresses;
            case VariableKind.UpstreamStatus:
                return context.Upstream.Statuses;
            case VariableKind.LimitReqStatus:
                return LimitStatusText.Of(context.LimitReqStatus);
            case VariableKind.LimitConnStatus:
                return LimitStatusText.Of(context.LimitConnStatus);
            case VariableKind.RealIpRemoteAddr:
                return context.PeerAddr;
            case VariableKind.RealIpRemotePort:
                return context.PeerPort;
            default:
                // Response-phase and logging variables ($status, $upstream_*, $request_time, $time_*) have no value
                // while a request is being forwarded: empty, as nginx gives "not found".
                return default;
        }
    }

    private static ReadOnlySpan<byte> Format(long value, Span<byte> scratch)
    {
        Utf8Formatter.TryFormat(value, scratch, out int written);
        return scratch[..written];
    }

    private static ReadOnlySpan<byte> Field(RequestContext context, ReadOnlySpan<byte> lowerName)
    {
        int i = context.FindField(lowerName);
        return i < 0 ? default : context.GetValue(context.Head.Fields[i]);
    }

    /// <summary>$args: the request's query, or the arguments a rewrite left.</summary>
    public static ReadOnlySpan<byte> Query(RequestContext context) => context.Args;

    /// <summary>$request_uri: the target as sent, from the path on (nginx's unparsed_uri; an absolute-form target loses scheme and authority).</summary>
    public static ReadOnlySpan<byte> RequestUri(RequestContext context)
    {
        var head = context.Head;
        int end = head.TargetOffset + head.TargetLength;
        if (head.TargetForm == RequestTargetForm.Absolute && head.PathOffset >= head.TargetOffset && head.PathOffset <= end)
        {
            return context.HeadBytes[head.PathOffset..end];
        }
        return context.HeadBytes.Slice(head.TargetOffset, head.TargetLength);
    }

    /// <summary>$arg_NAME: the first NAME=value pair of the query, name compared case-insensitively (nginx).</summary>
    public static ReadOnlySpan<byte> Argument(ReadOnlySpan<byte> query, ReadOnlySpan<byte> name)
    {
        while (!query.IsEmpty)
        {
            int amp = query.IndexOf((byte)'&');
            var pair = amp < 0 ? query : query[..amp];
            int eq = pair.IndexOf((byte)'=');
            var key = eq < 0 ? pair : pair[..eq];
            if (System.Text.Ascii.EqualsIgnoreCase(key, name))
            {
                return eq < 0 ? default : pair[(eq + 1)..];
            }
            query = amp < 0 ? default : query[(amp + 1)..];
        }
        return default;
    }

    /// <summary>$cookie_NAME: from "Cookie: a=1; b=2" (RFC 6265 §4.2.1), names compared case-insensitively (nginx).</summary>
    private static ReadOnlySpan<byte> Cookie(RequestContext context, ReadOnlySpan<byte> name)
    {
        var fields = context.Head.Fields;
        for (int i = 0; i < fields.Length; i++)
        {
            if (!System.Text.Ascii.EqualsIgnoreCase(context.GetName(fields[i]), "cookie"u8))
            {
                continue;
            }
            var value = context.GetValue(fields[i]);
            while (!value.IsEmpty)
            {
                int semi = value.IndexOf((byte)';');
                var pair = (semi < 0 ? value : value[..semi]).TrimStart((byte)' ');
                int eq = pair.IndexOf((byte)'=');
                if (eq > 0 && System.Text.Ascii.EqualsIgnoreCase(pair[..eq], name))
                {
                    return pair[(eq + 1)..];
                }
                value = semi < 0 ? default : value[(semi + 1)..];
            }
        }
        return default;
    }

    /// <summary>
    /// $proxy_add_x_forwarded_for: the client's X-Forwarded-For fields joined with ", " (nginx 1.23+ joins repeated
    /// fields), then ", " and $remote_addr; just $remote_addr when the client sent none.
    /// </summary>
    private static int ProxyAddXForwardedFor(RequestContext context, Span<byte> destination, bool measure)
    {
        int total = 0;
        var fields = context.Head.Fields;
        for (int i = 0; i < fields.Length; i++)
        {
            if (fields[i].NameLength != 15 || !System.Text.Ascii.EqualsIgnoreCase(context.GetName(fields[i]), "x-forwarded-for"u8))
            {
                continue;
            }
            var value = context.GetValue(fields[i]);
            if (value.IsEmpty)
            {
                continue;
            }
            total += Put(value, measure ? default : destination[total..], measure);
            total += Put(", "u8, measure ? default : destination[total..], measure);
        }
        total += Put(context.RemoteAddr, measure ? default : destination[total..], measure);
        return total;
    }

    private static int EvaluateMap(MapRuntime map, RequestContext context, Span<byte> destination, bool measure, int depth)
    {
        int sourceLength = Evaluate(map.Source, context, default, measure: true, depth);
        byte[]? rented = null;
        Span<byte> source = sourceLength <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(sourceLength));
        try
        {
            int n = Evaluate(map.Source, context, source, measure: false, depth);
            var selected = map.Select(source[..n], context, out bool scoped);
            try
            {
                return Evaluate(selected, context, destination, measure, depth);
            }
            finally
            {
                if (scoped)
                {
                    context.EndMapCaptures();
                }
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
