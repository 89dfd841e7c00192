using System.Net;
using System.Net.Sockets;
using FastProxy.Diagnostics;
using Microsoft.Extensions.Logging;
using static FastProxy.Transport.Epoll.LinuxInterop;

namespace FastProxy.Transport.Epoll;

/// <summary>
/// A listening socket on the event loops: registered level-triggered with EPOLLEXCLUSIVE on every loop, so a new
/// connection wakes one loop, which accepts it and runs it from then on (nginx's accept with EPOLLEXCLUSIVE).
/// </summary>
internal sealed unsafe partial class EpollListener : IConnectionListener, IEpollHandler
{
    /// <summary>
    /// One connection per wake-up, as nginx with multi_accept off: the listener is level-triggered, so more waiting
    /// connections raise the next event at once, and no accept is spent to learn EAGAIN.
    /// </summary>
    private const int AcceptBatch = 1;
    private const int ClosedBit = 1 << 30;

    private readonly Socket _socket;
    private readonly int _fd;
    private readonly ILogger _logger;
    private readonly EpollLoop[] _loops;
    private readonly nint[] _handles;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Action<TransportConnection, IConnectionListener>? _onAccept;
    private int _fdState;
    private int _paused;

    private EpollListener(IPEndPoint configEndPoint, Socket socket, ILogger logger)
    {
        ConfigEndPoint = configEndPoint;
        _socket = socket;
        _logger = logger;
        BoundEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        socket.Blocking = false;
        _fd = (int)socket.SafeHandle.DangerousGetHandle();
        _loops = EpollLoop.All;
        _handles = new nint[_loops.Length];
    }

    public IPEndPoint ConfigEndPoint { get; }

    public IPEndPoint BoundEndPoint { get; }

    public static EpollListener Bind(IPEndPoint endPoint, ILogger logger)
    {
        var listener = new EpollListener(endPoint, ConnectionListener.CreateListeningSocket(endPoint), logger);
        Log.Listening(logger, listener.BoundEndPoint);
        return listener;
    }

    public void Start(Action<TransportConnection, IConnectionListener> onAccept)
    {
        _onAccept = onAccept;
        for (int i = 0; i < _loops.Length; i++)
        {
            _handles[i] = _loops[i].Register(_fd, EPOLLIN | EPOLLEXCLUSIVE, this, out int errno);
            if (_handles[i] == 0)
            {
                throw new SocketException((int)ToSocketError(errno));
            }
        }
    }

    public void OnEvents(uint events)
    {
        if (!Enter())
        {
            return;
        }
        try
        {
            AcceptBatchOnCurrentLoop();
        }
        finally
        {
            Exit();
        }
    }

    private void AcceptBatchOnCurrentLoop()
    {
        var loop = EpollLoop.Current!;
        for (int i = 0; i < AcceptBatch; i++)
        {
            if ((Volatile.Read(ref _fdState) & ClosedBit) != 0)
            {
                return; // stopped meanwhile: accept nothing more, the descriptor closes when this batch exits
            }
            SockAddrBuffer address;
            uint length = (uint)sizeof(SockAddrBuffer);
            int fd = accept4(_fd, &address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0)
            {
                int errno = Errno;
                if (errno is EINTR or ECONNABORTED)
                {
                    continue; // a client gone before we took it: nothing to do
                }
                if (errno == EAGAIN)
                {
                    return;
                }
                // Out of descriptors or memory: stop accepting for a while instead of spinning on a level-triggered
                // listener (nginx disables accept events for 500 ms).
                Log.AcceptFailed(_logger, BoundEndPoint, ToSocketError(errno).ToString());
                Pause();
                return;
            }
            EpollConnection connection;
            try
            {
                connection = EpollConnection.Accepted(fd, loop, ReadClientAddress(&address, length));
            }
            catch (Exception e)
            {
                Log.ConnectionError(_logger, e);
                close(fd);
                continue;
            }
            try
            {
                _onAccept!(connection, this);
            }
            catch (Exception e)
            {
                // A bug in setting up one connection must not stop the listener.
                Log.ConnectionError(_logger, e);
                connection.Abort();
                _ = connection.CloseAsync(TimeSpan.Zero, TimeSpan.Zero);
            }
        }
    }

    private void Pause()
    {
        if (Interlocked.Exchange(ref _paused, 1) != 0)
        {
            return;
        }
        foreach (var loop in _loops)
        {
            loop.Remove(_fd);
        }
        _ = ResumeLaterAsync();
    }

    private bool Enter()
    {
        while (true)
        {
            int state = Volatile.Read(ref _fdState);
            if ((state & ClosedBit) != 0)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _fdState, state + 1, state) == state)
            {
                return true;
            }
        }
    }

    private void Exit()
    {
        if (Interlocked.Decrement(ref _fdState) == ClosedBit)
        {
            Close();
        }
    }

    public Task StopAsync()
    {
        int prior = Interlocked.Or(ref _fdState, ClosedBit);
        if ((prior & ClosedBit) == 0 && prior == 0)
        {
            Close(); // else the accept running now closes it when it exits
        }
        // Completes once the descriptor is closed: after that, no connection can be accepted any more.
        return _closed.Task;
    }

    private void Close()
    {
        // Closing the descriptor takes it out of every epoll set (no explicit EPOLL_CTL_DEL: after close, its number
        // may already belong to another connection); the loops free the handles after their current batch.
        _socket.Dispose();
        for (int i = 0; i < _loops.Length; i++)
        {
            _loops[i].Unregister(_handles[i]);
            _handles[i] = 0;
        }
        _closed.TrySetResult();
    }
}

/// <summary>The async part, outside the unsafe context (C# does not allow await there).</summary>
internal sealed partial class EpollListener
{
    private async Task ResumeLaterAsync()
    {
        await Task.Delay(100);
        if (!Enter())
        {
            return;
        }
        try
        {
            for (int i = 0; i < _loops.Length; i++)
            {
                var old = _handles[i];
                _handles[i] = _loops[i].Register(_fd, EPOLLIN | EPOLLEXCLUSIVE, this, out _);
                _loops[i].Unregister(old);
            }
            Volatile.Write(ref _paused, 0);
        }
        finally
        {
            Exit();
        }
    }
}
