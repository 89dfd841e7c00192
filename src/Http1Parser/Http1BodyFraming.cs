namespace FastProxy.Http1;

/// <summary>RFC 9112 §6.3: how long a message body is.</summary>
public static class Http1BodyFraming
{
    /// <summary>A request has a body only by Content-Length or chunked (never until close).</summary>
    public static BodyKind ForRequest(HttpRequestHead head, out long contentLength)
    {
        throw new NotImplementedException();
    }

    /// <summary>
    /// A response to HEAD, any 1xx, 204, 304 and a 2xx to CONNECT has no body; otherwise chunked, Content-Length, or
    /// until close.
    /// </summary>
    public static BodyKind ForResponse(HttpResponseHead head, Http1Method requestMethod, out long contentLength)
    {
        throw new NotImplementedException();
    }
}
