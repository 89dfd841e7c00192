using FastProxy.Http;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.Runtime;

namespace FastProxy.Forwarding;

/// <summary>What the client connection does after this response, announced in its Connection field.</summary>
internal enum ClientConnectionMode : byte
{
    KeepAlive,
    Close,
    Upgrade,
}

/// <summary>
/// Writes the response head sent to the client: "HTTP/1.1" with the backend's status code and reason byte-exact,
/// FastProxy's Server and Date (nginx hides the upstream's and adds its own; proxy_pass_header lets them through),
/// the backend's fields byte-exact and in order without the hop-by-hop and hidden ones, our Connection field, and
/// add_header fields.
/// </summary>
internal static class ResponseHeadWriter
{
    public static void Write(ref BufferWriter writer, HttpResponseHead response, LocationRuntime runtime, DateHeader date,
        RequestContext context, bool dropTransferEncoding, ClientConnectionMode mode)
    {
        var raw = response.Raw.Span;

        // nginx answers with HTTP/1.1 whatever the client's or the backend's version (RFC 9110 §6.2: a server sends
        // the highest minor version it conforms to).
        writer.Write(StatusResponses.Http11);
        writer.WriteNumber(response.StatusCode);
        writer.Write((byte)' ');
        writer.Write(response.Reason);
        writer.WriteCrlf();
        if (!runtime.PassUpstreamServer)
        {
            writer.Write(StatusResponses.ServerLine);
        }
        if (!runtime.PassUpstreamDate)
        {
            writer.Write(date.Line);
        }

        bool listsOthers = (response.Connection & ConnectionOptions.Other) != 0;
        // proxy_redirect: Location and Refresh pass through the location's rules (nginx's default rule included).
        var redirects = runtime.GetRedirects(context.Location);
        var fields = response.Fields;
        for (int i = 0; i < fields.Length; i++)
        {
            ref readonly var field = ref fields[i];
            switch (field.Known)
            {
                case KnownField.Connection:
                case KnownField.KeepAlive:
                case KnownField.ProxyConnection:
                case KnownField.TE:
                case KnownField.Trailer:
                    continue;
                case KnownField.Upgrade when mode != ClientConnectionMode.Upgrade:
                    continue;
                case KnownField.TransferEncoding when dropTransferEncoding:
                    continue;
            }
            var name = raw.Slice(field.NameOffset, field.NameLength);
            if (runtime.IsHiddenResponseField(name))
            {
                continue;
            }
            if (listsOthers && HopByHop.IsListedInConnection(raw, fields, name))
            {
                continue;
            }
            if (redirects.Length > 0 && IsRedirectField(name, out bool refresh))
            {
                var value = raw.Slice(field.ValueOffset, field.ValueLength);
                writer.Write(name);
                writer.Write(": "u8);
                if (!ProxyRedirectRule.TryWrite(redirects, value, refresh, context, context.Snapshot.UsesCaptures, ref writer))
                {
                    writer.Write(value);
                }
                writer.WriteCrlf();
                continue;
            }
            writer.Write(raw.Slice(field.NameOffset, field.ValueOffset + field.ValueLength - field.NameOffset));
            writer.WriteCrlf();
        }

        writer.Write(mode switch
        {
            ClientConnectionMode.KeepAlive => StatusResponses.ConnectionKeepAlive,
            ClientConnectionMode.Upgrade => StatusResponses.ConnectionUpgrade,
            _ => StatusResponses.ConnectionClose,
        });
        WriteAddHeaders(ref writer, runtime, context, response.StatusCode);
        writer.WriteCrlf();
    }

    private static bool IsRedirectField(ReadOnlySpan<byte> name, out bool refresh)
    {
        refresh = name.Length == 7 && System.Text.Ascii.EqualsIgnoreCase(name, "refresh"u8);
        return refresh || (name.Length == 8 && System.Text.Ascii.EqualsIgnoreCase(name, "location"u8));
    }

    /// <summary>add_header: only on 200, 201, 204, 206, 301, 302, 303, 304, 307, 308 unless <c>always</c> (nginx).</summary>
    public static void WriteAddHeaders(ref BufferWriter writer, LocationRuntime runtime, RequestContext context, int status)
    {
        if (runtime.AddHeaders.Length == 0)
        {
            return;
        }
        bool applies = status is 200 or 201 or 204 or 206 or 301 or 302 or 303 or 304 or 307 or 308;
        foreach (var header in runtime.AddHeaders)
        {
            if (!applies && !header.Always)
            {
                continue;
            }
            int length = VariableEvaluator.Measure(header.Value, context);
            if (length == 0)
            {
                continue;
            }
            writer.Write(header.Name);
            writer.Write(": "u8);
            VariableEvaluator.WriteFieldValue(header.Value, context, length, ref writer);
            writer.WriteCrlf();
        }
    }
}
