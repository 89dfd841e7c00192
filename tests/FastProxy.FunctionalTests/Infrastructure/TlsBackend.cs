using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FastProxy.Tls.Tests;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>
/// An HTTPS backend on 127.0.0.1:0: a TLS handshake with a given certificate (recording the SNI the proxy sent and
/// whether the session was resumed), then keep-alive HTTP/1.1 requests answered 200 with the path as the body.
/// </summary>
internal sealed class TlsBackend : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly SslStreamCertificateContext _certificate;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Socket> _sockets = [];
    private int _handshakes;

    private readonly bool _requireClientCertificate;

    public TlsBackend(CertFiles certificate, bool requireClientCertificate = false)
    {
        _requireClientCertificate = requireClientCertificate;
        var leaf = X509Certificate2.CreateFromPemFile(certificate.CertificatePath, certificate.KeyPath);
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(certificate.CertificatePath);
        chain.RemoveAt(0);
        _certificate = SslStreamCertificateContext.Create(leaf, chain, offline: true);
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _ = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>Completed handshakes.</summary>
    public int Handshakes => Volatile.Read(ref _handshakes);

    /// <summary>The SNI of each handshake ("" when the proxy sent none).</summary>
    public ConcurrentQueue<string> ServerNames { get; } = new();

    public ConcurrentQueue<BackendRequest> Requests { get; } = new();

    /// <summary>The subject of the client certificate of each handshake ("" without one).</summary>
    public ConcurrentQueue<string> ClientCertificates { get; } = new();

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            _sockets.Add(socket);
            _ = Task.Run(() => ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
        try
        {
            var options = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _certificate,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = _requireClientCertificate,
                // The test checks who connected; trust is the proxy's side of the story.
                RemoteCertificateValidationCallback = (_, certificate, _, _) => !_requireClientCertificate || certificate is not null,
            };
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await ssl.AuthenticateAsServerAsync(options, cts.Token);
            // On the server side TargetHostName is the SNI the client sent ("" without one).
            ServerNames.Enqueue(ssl.TargetHostName ?? "");
            ClientCertificates.Enqueue(ssl.RemoteCertificate?.Subject ?? "");
            Interlocked.Increment(ref _handshakes);
            var reader = new BufferedReader(ssl);
            while (!_stop.IsCancellationRequested)
            {
                var request = await TestBackend.ReadRequestAsync(reader, 0);
                if (request is null)
                {
                    return;
                }
                Requests.Enqueue(request);
                var body = Encoding.ASCII.GetBytes("tls backend " + request.Target);
                await ssl.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\n\r\n"));
                await ssl.WriteAsync(body);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or AuthenticationException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
        return ValueTask.CompletedTask;
    }
}
