namespace FastProxy.Http1;

/// <summary>RFC 9112 §6.3: how long a message body is.</summary>
/// <remarks>
/// Call only on a head the parser returned <see cref="Http1Status.Complete"/> for: it has already rejected every
/// ambiguous framing (Content-Length with Transfer-Encoding, several Content-Lengths, a coding other than a final
/// chunked, Transfer-Encoding in HTTP/1.0), so what is left has exactly one reading. <c>contentLength</c> is the
/// number of body bytes for <see cref="BodyKind.ContentLength"/>, 0 for <see cref="BodyKind.None"/> and -1 for
/// <see cref="BodyKind.Chunked"/> and <see cref="BodyKind.UntilClose"/>. <c>Content-Length: 0</c> gives
/// <see cref="BodyKind.None"/> (the field itself is still in the head, to be forwarded).
/// </remarks>
public static class Http1BodyFraming
{
    /// <summary>A request has a body only by Content-Length or chunked (never until close).</summary>
    public static BodyKind ForRequest(HttpRequestHead head, out long contentLength)
    {
        ArgumentNullException.ThrowIfNull(head);
        // RFC 9112 §6.3 rules 4-7: chunked, else Content-Length, else no body (a request is never read until close).
        if (head.IsChunked)
        {
            contentLength = -1;
            return BodyKind.Chunked;
        }
        return FromContentLength(head.ContentLength, out contentLength);
    }

    /// <summary>
    /// A response to HEAD, any 1xx, 204, 304 and a 2xx to CONNECT has no body; otherwise chunked, Content-Length, or
    /// until close.
    /// </summary>
    public static BodyKind ForResponse(HttpResponseHead head, Http1Method requestMethod, out long contentLength)
    {
        ArgumentNullException.ThrowIfNull(head);
        int code = head.StatusCode;
        // RFC 9112 §6.3 rule 1: HEAD, 1xx, 204, 304 — whatever the fields say. Rule 2: a 2xx to CONNECT switches
        // the connection to a tunnel. (A 101 also ends HTTP on the connection; the engine tunnels after it.)
        if (requestMethod == Http1Method.Head
            || code < 200 || code == 204 || code == 304
            || (requestMethod == Http1Method.Connect && code < 300))
        {
            contentLength = 0;
            return BodyKind.None;
        }
        if (head.IsChunked)
        {
            contentLength = -1;
            return BodyKind.Chunked;
        }
        if (head.ContentLength < 0)
        {
            // Rule 8: no Content-Length and no Transfer-Encoding: the body runs until the server closes.
            contentLength = -1;
            return BodyKind.UntilClose;
        }
        return FromContentLength(head.ContentLength, out contentLength);
    }

    private static BodyKind FromContentLength(long value, out long contentLength)
    {
        contentLength = Math.Max(value, 0);
        return value > 0 ? BodyKind.ContentLength : BodyKind.None;
    }
}
