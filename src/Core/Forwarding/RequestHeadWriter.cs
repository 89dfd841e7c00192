using FastProxy.Http;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.Routing;
using FastProxy.Runtime;

namespace FastProxy.Forwarding;

/// <summary>How the request body is framed towards the backend (always FastProxy's own, never the client's bytes).</summary>
internal enum UpstreamBodyFraming : byte
{
    None,
    ContentLength,
    Chunked,
}

/// <summary>
/// Writes the request head sent upstream, in nginx's order (ngx_http_proxy_create_request): the request line with
/// the target rewritten per proxy_pass, the proxy_set_header fields in configuration order, nginx's default
/// Host/Connection unless the operator set them, fresh body framing, then every client field except the hop-by-hop
/// ones, the replaced ones and the client's own framing, byte-exact and in order.
/// </summary>
internal static class RequestHeadWriter
{
    /// <summary>Longest request target we write (the client's target after rewriting can only grow by the proxy_pass URI).</summary>
    private const int TargetSlack = 1024;

    /// <summary>Writes the head; returns false when it asked the backend to close after this exchange.</summary>
    public static bool Write(ref BufferWriter writer, RequestContext context, LocationRoute? location, LocationRuntime runtime,
        UpstreamBodyFraming framing, long contentLength, bool upgrade, bool keepAlive)
    {
        bool reusable = keepAlive && !runtime.UpstreamHttp10;
        var head = context.Head;
        var bytes = context.HeadBytes;

        // Request line: METHOD SP target SP HTTP/1.x CRLF (RFC 9112 §3).
        writer.Write(bytes[..head.MethodLength]);
        writer.Write((byte)' ');
        WriteTarget(ref writer, context, location);
        writer.Write(runtime.UpstreamHttp10 ? " HTTP/1.0\r\n"u8 : " HTTP/1.1\r\n"u8);

        // proxy_set_header, in order; an empty value removes the field (nginx).
        foreach (var header in runtime.SetHeaders)
        {
            int length = VariableEvaluator.Measure(header.Value, context);
            if (length == 0)
            {
                continue;
            }
            if (header.IsConnection)
            {
                reusable &= !AsksToClose(header, context, length);
            }
            writer.Write(header.Name);
            writer.Write(": "u8);
            VariableEvaluator.WriteFieldValue(header.Value, context, length, ref writer);
            writer.WriteCrlf();
        }

        // nginx's defaults the operator did not override: Host $proxy_host, and the connection handling.
        if (!runtime.SetsHost)
        {
            writer.WriteField("Host"u8, runtime.ProxyHost);
        }
        if (upgrade)
        {
            // Upgrade passes through by default (as HAProxy, Envoy and Caddy do): Connection: upgrade plus the
            // client's Upgrade field, unless the operator spelled them out the nginx way.
            if (!runtime.SetsConnection)
            {
                writer.Write(StatusResponses.ConnectionUpgrade);
            }
            if (!runtime.SetsUpgrade && head.UpgradeFieldIndex >= 0)
            {
                writer.Write(context.GetLine(head.Fields[head.UpgradeFieldIndex]));
                writer.WriteCrlf();
            }
        }
        else if (!runtime.SetsConnection && (!keepAlive || runtime.UpstreamHttp10))
        {
            // HTTP/1.1 is persistent by default (RFC 9112 §9.3): with keep-alive on, no Connection field is needed.
            writer.Write(StatusResponses.ConnectionClose);
        }

        // Fresh framing (RFC 9112 §6.1, §6.2): the client's Content-Length/Transfer-Encoding are never copied.
        if (framing == UpstreamBodyFraming.ContentLength)
        {
            writer.Write("Content-Length: "u8);
            writer.WriteNumber(contentLength);
            writer.WriteCrlf();
        }
        else if (framing == UpstreamBodyFraming.Chunked)
        {
            writer.Write("Transfer-Encoding: chunked\r\n"u8);
        }

        // The client's fields, byte-exact, in order.
        bool connectionListsOthers = (head.Connection & ConnectionOptions.Other) != 0;
        var fields = head.Fields;
        for (int i = 0; i < fields.Length; i++)
        {
            ref readonly var field = ref fields[i];
            switch (field.Known)
            {
                case KnownField.Host:               // replaced by $proxy_host or the operator's Host
                case KnownField.ContentLength:      // framing is written fresh above
                case KnownField.TransferEncoding:
                case KnownField.Expect:             // answered here (100 Continue), as nginx does: never forwarded
                case KnownField.Connection:
                case KnownField.KeepAlive:
                case KnownField.ProxyConnection:
                case KnownField.TE:
                case KnownField.Trailer:
                case KnownField.Upgrade:            // hop-by-hop; re-added above when upgrading
                    continue;
            }
            var name = context.GetName(field);
            if (runtime.SetHeaders.Length > 0 && runtime.IsSetHeader(name))
            {
                continue;
            }
            if (connectionListsOthers && HopByHop.IsListedInConnection(bytes, fields, name))
            {
                continue;
            }
            writer.Write(context.GetLine(field));
            writer.WriteCrlf();
        }
        writer.WriteCrlf();
        return reusable && !upgrade;
    }

    /// <summary>An operator's Connection value (e.g. nginx's <c>$connection_upgrade</c> map giving "close").</summary>
    private static bool AsksToClose(SetHeader header, RequestContext context, int length)
    {
        Span<byte> value = stackalloc byte[128];
        if (length > value.Length)
        {
            return true; // an odd, long Connection value: do not trust the connection afterwards
        }
        int n = VariableEvaluator.Write(header.Value, context, value);
        return System.Text.Ascii.EqualsIgnoreCase(value[..n].Trim((byte)' '), "close"u8) ||
            value[..n].IndexOf("close"u8) >= 0 || value[..n].IndexOf("Close"u8) >= 0;
    }

    /// <summary>After <c>rewrite</c>: the rewritten $uri escaped and $args (see UpstreamTarget.WriteAfterRewrite).</summary>
    private static void WriteRewrittenTarget(ref BufferWriter writer, RequestContext context, LocationRoute location)
    {
        var uri = context.Uri;
        var args = context.Args;
        int capacity = location.ProxyPassUriBytes.Length + uri.Length * 3 + args.Length + 2;
        var span = writer.GetSpan(capacity);
        int written = UpstreamTarget.WriteAfterRewrite(location, !context.LocationInvalidated, uri, args, span);
        writer.Advance(written);
    }

    private static void WriteTarget(ref BufferWriter writer, RequestContext context, LocationRoute? location)
    {
        var head = context.Head;
        var bytes = context.HeadBytes;
        if (context.UriRewritten && location is not null)
        {
            WriteRewrittenTarget(ref writer, context, location);
            return;
        }
        // The target sent upstream is origin-form (RFC 9112 §3.2.1), also when the client used absolute-form.
        var original = VariableEvaluator.RequestUri(context);
        if (location is null || location.Settings.ProxyPass?.Uri is null)
        {
            // "http://host" and "http://host?q" have an empty path: origin-form needs at least "/" (RFC 9112 §3.2.1).
            if (original.IsEmpty || original[0] != (byte)'/')
            {
                writer.Write((byte)'/');
            }
            if (location is null)
            {
                writer.Write(original);
                return;
            }
        }
        var query = head.QueryOffset < 0 ? default : bytes.Slice(head.QueryOffset, head.QueryLength);
        int capacity = original.Length + TargetSlack;
        while (true)
        {
            var span = writer.GetSpan(capacity);
            int written = UpstreamTarget.Write(location, original, context.Uri, query, span);
            if (written >= 0)
            {
                writer.Advance(written);
                return;
            }
            capacity *= 2;
        }
    }
}
