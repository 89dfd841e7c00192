using System.Net;
using System.Text;
using FastProxy.Config;
using FastProxy.Forwarding;
using FastProxy.Infrastructure;
using FastProxy.Runtime;
using FastProxy.Tls;
using FastProxy.Transport;
using FastProxy.Upstreams;

namespace FastProxy.Http;

/// <summary>
/// TLS termination for connections accepted on a <c>listen ... ssl</c> address. The handshake runs first, on the
/// thread pool (never on the accept loop), over the connection's own <see cref="SocketConnection"/>; on success the
/// request loop reads and writes the plaintext pipes of a <see cref="TlsConnection"/> instead of the socket's and is
/// otherwise unchanged. Plain connections never touch any of this.
/// </summary>
internal sealed partial class Http1Connection
{
    // nginx's answer to plain HTTP on an ssl port (NGX_HTTP_TO_HTTPS, ngx_http_special_response.c), then close.
    private static readonly byte[] s_plainHttpPage = Encoding.ASCII.GetBytes(
        "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n" +
        "<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n" +
        "<hr><center>fastproxy</center>\r\n</body>\r\n</html>\r\n");

    private static readonly byte[] s_plainHttpHeaders = Encoding.ASCII.GetBytes(
        $"Content-Type: text/html\r\nContent-Length: {s_plainHttpPage.Length}\r\nConnection: close\r\n\r\n");

    /// <summary>The TLS context of the listen address (per snapshot, taken at accept); null for plain connections.</summary>
    private TlsServerContext? _tlsContext;

    /// <summary>The TLS layer once the handshake succeeded.</summary>
    private TlsConnection? _tls;

    /// <summary>
    /// Runs the server handshake within ssl_handshake_timeout. On success the request loop switches to the TLS
    /// pipes; on failure (logged at info by <see cref="TlsServerContext"/>) only this connection closes, after
    /// nginx's 400 page when the client spoke plain HTTP.
    /// </summary>
    private async ValueTask<bool> AuthenticateTlsAsync()
    {
        // A graceful stop may end a connection still in its handshake, as an idle one (RequestStop wakes this read).
        if (_transport.IsAborted)
        {
            return false; // aborted (server stopping) before the handshake began
        }
        EndPoint? remote = _transport.RemoteEndPoint;
        Volatile.Write(ref _idle, IdleInHandshake);
        Interlocked.MemoryBarrier();
        if (_stopping)
        {
            _linger = false;
            return false;
        }
        // Framed from the first byte (DuplexPipeStream.RecordFramed): the TLS reader then waits for records on the
        // transport, not inside SslStream.
        var transportStream = new DuplexPipeStream(_transport, recordFramed: true);
        var result = await _tlsContext!.AuthenticateAsync(transportStream, remote, CancellationToken.None);
        Volatile.Write(ref _idle, NotIdle);
        if (!result.Succeeded)
        {
            if (result.Error == TlsHandshakeError.PlainHttp && !_stopping)
            {
                StartRequestLog(); // a request too, logged as nginx logs it: 400 (its line was read as TLS: "-")
                long before = ClientUnflushed;
                var writer = new BufferWriter(_output);
                StatusResponses.WriteStatusLine(ref writer, 400);
                writer.Write(_services.Date.Line);
                writer.Write(s_plainHttpHeaders);
                writer.Write(s_plainHttpPage);
                writer.Commit();
                CountResponseHead(400, before, s_plainHttpPage.Length);
                await FlushClientAsync();
                if (RefreshSnapshot())
                {
                    WriteAccessLog(400);
                }
            }
            else
            {
                _linger = false;
            }
            return false;
        }
        var tls = new TlsConnection(result.Stream!, _transport, framedTransport: transportStream);
        tls.Start();
        _tls = tls;
        _input = tls.Input;
        _output = tls.Output;
        _context.IsHttps = true;
        _client.Tls = tls;
        return true;
    }

    /// <summary>
    /// The client handshake on a freshly connected HTTPS upstream, bounded by proxy_connect_timeout (nginx counts the
    /// handshake in it). A failure (untrusted or mismatched certificate, protocol, reset) is logged by
    /// <see cref="UpstreamTlsContext"/> and is nginx's "error" for proxy_next_upstream: 502 when nothing is left.
    /// </summary>
    private async ValueTask<ExchangeOutcome> ConnectUpstreamTlsAsync(UpstreamConnection upstream, UpstreamTlsRuntime tls, LocationSettings settings)
    {
        string? name = null;
        if (tls.DynamicName is { } template)
        {
            // proxy_ssl_name with variables: one string per new connection (such connections are not pooled).
            var bytes = new byte[VariableEvaluator.Measure(template, _context)];
            VariableEvaluator.Write(template, _context, bytes);
            name = Encoding.ASCII.GetString(bytes);
        }
        var result = await tls.Context.AuthenticateAsync(new DuplexPipeStream(upstream.Transport), settings.ProxyConnectTimeout, CancellationToken.None, name);
        if (!result.Succeeded)
        {
            return result.Error == UpstreamTlsError.Timeout ? ExchangeOutcome.ConnectTimeout : ExchangeOutcome.TlsHandshakeFailed;
        }
        upstream.AttachTls(new TlsConnection(result.Stream!, upstream.Transport, readAhead: true));
        return ExchangeOutcome.Completed;
    }
}
