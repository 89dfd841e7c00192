using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using FastProxy.Diagnostics;
using FastProxy.Transport.Epoll;
using Microsoft.Extensions.Logging;

namespace FastProxy.Transport;

/// <summary>A listening socket for one configured address and its accept loop, on .NET's sockets.</summary>
internal sealed class ConnectionListener : IConnectionListener
{
    // nginx's default listen backlog on Linux (NGX_LISTEN_BACKLOG).
    private const int Backlog = 511;

    /// <summary><c>FASTPROXY_LISTEN_QUICKACK=1</c> keeps the kernel's quick ACKs on accepted connections.</summary>
    internal static readonly bool DelayFirstAck = Environment.GetEnvironmentVariable("FASTPROXY_LISTEN_QUICKACK") != "1";

    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly PipeScheduler _scheduler;
    private readonly SocketArgsPool _argsPool;
    private Task? _acceptLoop;

    private ConnectionListener(IPEndPoint configEndPoint, Socket socket, ILogger logger, PipeScheduler scheduler, SocketArgsPool argsPool)
    {
        _scheduler = scheduler;
        _argsPool = argsPool;
        ConfigEndPoint = configEndPoint;
        _socket = socket;
        _logger = logger;
        BoundEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    /// <summary>The address as configured (port 0 stays 0): the key routes are looked up by.</summary>
    public IPEndPoint ConfigEndPoint { get; }

    /// <summary>The address actually bound (the real port when the config said 0).</summary>
    public IPEndPoint BoundEndPoint { get; }

    /// <summary>Binds and listens; a failure (address in use, no permission) is a configuration error and throws.</summary>
    public static ConnectionListener Bind(IPEndPoint endPoint, ILogger logger, PipeScheduler scheduler, SocketArgsPool argsPool)
    {
        var socket = CreateListeningSocket(endPoint);
        var listener = new ConnectionListener(endPoint, socket, logger, scheduler, argsPool);
        Log.Listening(logger, listener.BoundEndPoint);
        return listener;
    }

    /// <summary>A socket bound and listening as nginx's listen does it; throws <see cref="SocketException"/>.</summary>
    public static Socket CreateListeningSocket(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // nginx binds [::] with ipv6only=on: IPv4 clients need their own listen.
                socket.DualMode = false;
            }
            // SO_REUSEADDR as nginx sets it: a restart binds while old connections sit in TIME_WAIT.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            socket.Listen(Backlog);
            if (DelayFirstAck && OperatingSystem.IsLinux())
            {
                DisableQuickAck(socket);
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return socket;
    }

    /// <summary>
    /// HAProxy's HTTP listeners: TCP_QUICKACK off on the listening socket, inherited by accepted ones. The client
    /// speaks first and waits for the answer, so the ACK of its first request rides on the response instead of a
    /// segment of its own; Linux leaves this mode by itself when a delayed ACK times out (tcp(7)), and moves every
    /// keep-alive connection to it after its first exchange anyway. Best effort: a kernel that refuses it only costs
    /// the segment.
    /// </summary>
    private static void DisableQuickAck(Socket socket)
    {
        try
        {
            socket.SetRawSocketOption(LinuxInterop.IPPROTO_TCP, LinuxInterop.TCP_QUICKACK, stackalloc byte[4]);
        }
        catch (SocketException)
        {
        }
    }

    public void Start(Action<TransportConnection, IConnectionListener> onAccept) => _acceptLoop = AcceptLoopAsync(onAccept);

    private async Task AcceptLoopAsync(Action<TransportConnection, IConnectionListener> onAccept)
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _socket.AcceptAsync();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted or SocketError.Shutdown)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of descriptors and the like: back off instead of spinning (nginx disables accept for a while).
                Log.AcceptFailed(_logger, BoundEndPoint, e.SocketErrorCode.ToString());
                await Task.Delay(100);
                continue;
            }
            SocketConnection connection;
            try
            {
                SocketConnection.ConfigureSocket(socket);
                connection = new SocketConnection(socket, _scheduler, _argsPool);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The client reset the connection between accept and here (its addresses are no longer readable).
                socket.Dispose();
                continue;
            }
            try
            {
                onAccept(connection, this);
            }
            catch (Exception e)
            {
                // A bug in setting up one connection must not stop the listener.
                Log.ConnectionError(_logger, e);
                socket.Dispose();
            }
        }
    }

    /// <summary>Stops accepting; connections already accepted are not affected.</summary>
    public async Task StopAsync()
    {
        _socket.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop;
        }
    }
}
