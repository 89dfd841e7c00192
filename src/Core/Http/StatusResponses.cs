using System.Text;
using FastProxy.Infrastructure;

namespace FastProxy.Http;

/// <summary>
/// The answers FastProxy writes itself (errors, <c>return</c>, 100 Continue). Their constant parts are byte arrays
/// built once; only the Date line and, for <c>return</c>, the evaluated text or URL are produced per response. The
/// error page mirrors nginx's (ngx_http_special_response.c) with "fastproxy" in place of "nginx".
/// </summary>
internal static class StatusResponses
{
    public static ReadOnlySpan<byte> Continue100 => "HTTP/1.1 100 Continue\r\n\r\n"u8;
    public static ReadOnlySpan<byte> ServerLine => "Server: fastproxy\r\n"u8;
    public static ReadOnlySpan<byte> ConnectionKeepAlive => "Connection: keep-alive\r\n"u8;
    public static ReadOnlySpan<byte> ConnectionClose => "Connection: close\r\n"u8;
    public static ReadOnlySpan<byte> ConnectionUpgrade => "Connection: upgrade\r\n"u8;
    public static ReadOnlySpan<byte> Http11 => "HTTP/1.1 "u8;

    private static readonly Entry?[] s_entries = Build();

    private sealed class Entry(byte[] statusLine, byte[] page)
    {
        /// <summary>"HTTP/1.1 404 Not Found\r\nServer: fastproxy\r\n".</summary>
        public byte[] StatusLine { get; } = statusLine;

        /// <summary>The HTML error page body.</summary>
        public byte[] Page { get; } = page;

        /// <summary>"Content-Type: text/html\r\nContent-Length: N\r\n".</summary>
        public byte[] PageHeaders { get; } = Encoding.ASCII.GetBytes($"Content-Type: text/html\r\nContent-Length: {page.Length}\r\n");
    }

    private static Entry?[] Build()
    {
        var entries = new Entry?[600];
        for (int code = 100; code < 600; code++)
        {
            string? reason = ReasonPhrase(code);
            if (reason is null)
            {
                continue;
            }
            var statusLine = Encoding.ASCII.GetBytes($"HTTP/1.1 {code} {reason}\r\nServer: fastproxy\r\n");
            // nginx's pages (ngx_http_error_302_page, _401_page) title these two differently from the status line.
            string title = code switch { 302 => "Found", 401 => "Authorization Required", _ => reason };
            var page = Encoding.ASCII.GetBytes(
                $"<html>\r\n<head><title>{code} {title}</title></head>\r\n<body>\r\n<center><h1>{code} {title}</h1></center>\r\n<hr><center>fastproxy</center>\r\n</body>\r\n</html>\r\n");
            entries[code] = new Entry(statusLine, page);
        }
        return entries;
    }

    /// <summary>
    /// nginx closes the connection after these errors even when the client asked for keep-alive
    /// (ngx_http_special_response_handler: 400, 413, 414, 500, 501 and the TLS errors); FastProxy adds 408, 417, 431
    /// and 505, after which the rest of the client's input cannot be trusted either.
    /// </summary>
    public static bool ClosesConnection(int status) => status is 400 or 408 or 413 or 414 or 417 or 431 or 500 or 501 or 505;

    /// <summary>Writes an error page response (headers only when <paramref name="head"/>).</summary>
    public static void WriteError(ref BufferWriter writer, DateHeader date, int status, bool keepAlive, bool head)
    {
        WriteErrorHead(ref writer, date, status, keepAlive);
        writer.WriteCrlf();
        if (!head)
        {
            writer.Write(ErrorPage(status));
        }
    }

    /// <summary>An error page's status line and fields, without the empty line that ends the head (add_header goes there).</summary>
    public static void WriteErrorHead(ref BufferWriter writer, DateHeader date, int status, bool keepAlive)
    {
        var entry = GetEntry(status);
        writer.Write(entry.StatusLine);
        writer.Write(date.Line);
        writer.Write(entry.PageHeaders);
        writer.Write(keepAlive ? ConnectionKeepAlive : ConnectionClose);
    }

    /// <summary>The body of an error page (500's for codes without one).</summary>
    public static ReadOnlySpan<byte> ErrorPage(int status) => GetEntry(status).Page;

    /// <summary>The status line (with the Server line) of any code, reason from the table or empty.</summary>
    public static void WriteStatusLine(ref BufferWriter writer, int status)
    {
        var entry = (uint)status < (uint)s_entries.Length ? s_entries[status] : null;
        if (entry is not null)
        {
            writer.Write(entry.StatusLine);
            return;
        }
        // An unusual code from `return`: RFC 9112 §4 allows an empty reason phrase.
        writer.Write(Http11);
        writer.WriteNumber(status);
        writer.Write(" \r\n"u8);
        writer.Write(ServerLine);
    }

    /// <summary>The error page of a status (for <c>return 404;</c> and redirects), empty for codes without one.</summary>
    public static ReadOnlySpan<byte> PageFor(int status, out ReadOnlySpan<byte> pageHeaders)
    {
        if (status >= 300 && (uint)status < (uint)s_entries.Length && s_entries[status] is { } entry && status != 304)
        {
            pageHeaders = entry.PageHeaders;
            return entry.Page;
        }
        pageHeaders = default;
        return default;
    }

    private static Entry GetEntry(int status) =>
        (uint)status < (uint)s_entries.Length && s_entries[status] is { } entry ? entry : s_entries[500]!;

    public static string? ReasonPhrase(int code) => code switch
    {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => null,
    };
}
