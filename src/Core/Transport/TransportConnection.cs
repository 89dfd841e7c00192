using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace FastProxy.Transport;

/// <summary>
/// One TCP connection as the HTTP code sees it: a pair of pipes plus the few socket facts and controls it needs.
/// Two implementations: <see cref="Epoll.EpollConnection"/>, FastProxy's own event loop on Linux (the default there),
/// and <see cref="SocketConnection"/>, .NET's sockets (other platforms, and <c>FASTPROXY_TRANSPORT=sockets</c>).
/// </summary>
internal abstract class TransportConnection : IDuplexPipe
{
    public abstract PipeReader Input { get; }

    public abstract PipeWriter Output { get; }

    /// <summary>The peer's address, read once when the connection was made (null if it could not be read).</summary>
    public abstract IPEndPoint? RemoteEndPoint { get; }

    /// <summary>The peer's address as a value, IPv4-mapped IPv6 shown as IPv4 (default if it could not be read).</summary>
    internal virtual RealIp.ClientAddress RemoteAddress => RealIp.ClientAddress.FromEndPoint(RemoteEndPoint);

    /// <summary>The local address, read once when the connection was made (null if it could not be read).</summary>
    public abstract IPEndPoint? LocalEndPoint { get; }

    /// <summary>The peer closed its sending side (FIN) or the connection failed: no more input will come.</summary>
    public abstract bool ReceivedFin { get; }

    public abstract bool IsAborted { get; }

    /// <summary>
    /// True when starting the connection inline costs its caller nothing (FastProxy's loops: the first read just parks
    /// until the ClientHello's event), so a TLS connection starts inline too; false for .NET sockets, whose accept
    /// loop a handshake started inline would hold up.
    /// </summary>
    public virtual bool StartsInline => false;

    /// <summary>Starts moving bytes (a connected or accepted connection; after ConnectAsync for an outbound one).</summary>
    public abstract void Start();

    /// <summary>Tears the connection down at once: waiting reads and flushes wake and report the end.</summary>
    public abstract void Abort();

    /// <summary>
    /// Stops the sending half only (a send timeout): a pending flush completes as failed, and input keeps being read,
    /// so what the peer already sent is not destroyed. Abort or CloseAsync still follow.
    /// </summary>
    public abstract void AbortSend();

    /// <summary>
    /// Closes the connection: sends what is buffered and FIN (waiting up to <paramref name="flushTimeout"/>), then,
    /// when <paramref name="linger"/> is positive and the peer may still be sending, reads and discards its input for
    /// up to that long before the socket goes: nginx's lingering_close (closing with unread input sends RST, which can
    /// destroy the response in the client's receive buffer before the client read it).
    /// </summary>
    public abstract ValueTask CloseAsync(TimeSpan flushTimeout, TimeSpan linger);

    /// <summary>Connects an outbound connection; errors are values.</summary>
    public abstract ValueTask<SocketOperationResult> ConnectAsync(IPEndPoint endPoint);

    /// <summary>
    /// True when input is waiting: bytes received but not consumed, or (as far as the transport can tell without a
    /// syscall) bytes in the kernel. A close lingers only then, unless the HTTP code knows more is coming.
    /// </summary>
    public abstract bool HasPendingInput();

    /// <summary>True when the kernel holds received bytes not yet read into <see cref="Input"/> (a peek).</summary>
    public abstract bool HasKernelInput();

    /// <summary>
    /// Parks an idle client connection in the transport itself (nothing of it but its registration kept) until input
    /// may be there; <see cref="ParkResult.NotHere"/> when this transport or this moment cannot, and the caller waits
    /// with a read on <see cref="Input"/> instead.
    /// </summary>
    internal virtual ParkResult TryPark(IParkedWaiter waiter) => ParkResult.NotHere;

    /// <summary>Wakes a connection parked with <see cref="TryPark"/> (a deadline, a stop); nothing if it is not.</summary>
    internal virtual void WakeParked()
    {
    }
}

internal enum ParkResult
{
    /// <summary>Parked: the waiter is called on the next input event, a wake or an abort.</summary>
    Parked,
    /// <summary>Input (or its end) is already there: not parked, go on.</summary>
    InputReady,
    /// <summary>Not possible here: wait with a read instead.</summary>
    NotHere,
}

/// <summary>What a connection parked in its transport is woken through.</summary>
internal interface IParkedWaiter
{
    /// <summary>Input may be there, or the connection was woken or aborted; once per park.</summary>
    void OnParkedWake();
}

/// <summary>Creates outbound connections on the transport the server runs on.</summary>
internal interface ITransportFactory
{
    /// <summary>A new, not yet connected TCP connection for <paramref name="family"/>.</summary>
    TransportConnection CreateOutbound(AddressFamily family);

    /// <summary>Binds and listens on <paramref name="endPoint"/>; a failure throws <see cref="SocketException"/>.</summary>
    IConnectionListener Bind(IPEndPoint endPoint, Microsoft.Extensions.Logging.ILogger logger);
}

/// <summary>A listening address and its accept loop.</summary>
internal interface IConnectionListener
{
    /// <summary>The address as configured (port 0 stays 0): the key routes are looked up by.</summary>
    IPEndPoint ConfigEndPoint { get; }

    /// <summary>The address actually bound (the real port when the config said 0).</summary>
    IPEndPoint BoundEndPoint { get; }

    void Start(Action<TransportConnection, IConnectionListener> onAccept);

    /// <summary>Stops accepting; connections already accepted are not affected.</summary>
    Task StopAsync();
}
