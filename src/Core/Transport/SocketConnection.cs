using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace FastProxy.Transport;

/// <summary>
/// One TCP connection exposed as a pair of pipes (Kestrel's SocketConnection shape): a receive loop fills
/// <see cref="Input"/> from the socket, a send loop drains <see cref="Output"/> into it. Both client and upstream
/// connections use it. Per connection: two pipes, one receiver, one sender, two loop tasks; per operation nothing.
/// </summary>
internal sealed class SocketConnection : TransportConnection
{
    // Kestrel's numbers: ask the pipe for at least 2 KiB free space per receive; pause the writer at 64 KiB
    // unconsumed and resume at 32 KiB. These thresholds are the proxy's backpressure in both directions.
    private const int MinReceiveBuffer = 2048;
    private const long PauseThreshold = 64 * 1024;
    private const long ResumeThreshold = 32 * 1024;

    private readonly Socket _socket;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly SocketReceiver _receiver;
    private readonly SocketSender _sender;
    private readonly SocketArgsPool? _argsPool;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _receiveTask;
    private Task? _sendTask;
    private int _aborted;
    private int _loopsRunning;
    private volatile bool _receivedFin;
    private SocketError _receiveError;

    public SocketConnection(Socket socket, PipeScheduler scheduler, SocketArgsPool? argsPool = null, System.Buffers.MemoryPool<byte>? pool = null)
    {
        _argsPool = argsPool;
        _socket = socket;
        var memoryPool = pool ?? PinnedBlockMemoryPool.Shared;
        // Both sides of both pipes run inline by default: socket completions already arrive on thread-pool threads
        // (the Linux socket engine dispatches them), so another hop would only add latency. See docs/architecture.md.
        _input = new Pipe(new PipeOptions(memoryPool, readerScheduler: scheduler, writerScheduler: scheduler,
            pauseWriterThreshold: PauseThreshold, resumeWriterThreshold: ResumeThreshold, useSynchronizationContext: false,
            minimumSegmentSize: memoryPool.MaxBufferSize));
        _output = new Pipe(new PipeOptions(memoryPool, readerScheduler: scheduler, writerScheduler: scheduler,
            pauseWriterThreshold: PauseThreshold, resumeWriterThreshold: ResumeThreshold, useSynchronizationContext: false,
            minimumSegmentSize: memoryPool.MaxBufferSize));
        _receiver = argsPool?.RentReceiver() ?? new SocketReceiver(scheduler);
        _sender = argsPool?.RentSender() ?? new SocketSender(scheduler);
        // Read once: an accepted socket that the client already reset may throw here, which the accept path handles.
        if (socket.Connected)
        {
            _remote = socket.RemoteEndPoint as IPEndPoint;
            _local = socket.LocalEndPoint as IPEndPoint;
        }
    }

    private readonly IPEndPoint? _remote;
    private readonly IPEndPoint? _local;

    public override PipeReader Input => _input.Reader;

    public override PipeWriter Output => _output.Writer;

    public override IPEndPoint? RemoteEndPoint => _remote;

    public override IPEndPoint? LocalEndPoint => _local;

    public Socket Socket => _socket;

    /// <summary>The peer closed its sending side (FIN) or the connection failed: no more input will come.</summary>
    public override bool ReceivedFin => _receivedFin;

    public override bool IsAborted => Volatile.Read(ref _aborted) != 0;

    /// <summary>
    /// Why the input ended, when it ended by a socket error (a reset, typically); Success for a clean FIN. The input
    /// pipe itself completes without an exception either way: readers see IsCompleted and ask here (errors as values).
    /// </summary>
    public SocketError ReceiveError => _receiveError;

    /// <summary>Completes when both loops have ended and the socket is disposed.</summary>
    public Task Closed => _closed.Task;

    public override void Start()
    {
        _loopsRunning = 2;
        _receiveTask = ReceiveLoopAsync();
        _sendTask = SendLoopAsync();
    }

    /// <summary>Tears the connection down at once: pending reads on the socket fail, both loops end.</summary>
    public override void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }
        // Cancel the pipes so loops blocked on them (backpressure, idle send loop) wake up, then kill the socket so
        // loops blocked on it fail.
        _output.Reader.CancelPendingRead();
        _input.Writer.CancelPendingFlush();
        // After a clean close (the peer's FIN received, our send loop done and its FIN sent) no operation is waiting
        // on the socket: shutdown would only fail with ENOTCONN, one wasted syscall per connection. Dispose closes it.
        if (_receivedFin && _sendTask is { IsCompleted: true })
        {
            _socket.Dispose();
            return;
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }

    /// <summary>
    /// Stops the sending half only (a send timeout): the send loop wakes and ends, a pending flush completes, and the
    /// receive loop keeps reading, so what the peer already sent is not destroyed. Abort or CloseAsync still follow.
    /// </summary>
    public override void AbortSend()
    {
        if (IsAborted)
        {
            return;
        }
        _output.Reader.CancelPendingRead();
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                // Wait for data before renting a buffer: an idle keep-alive connection holds no memory.
                var wait = await _receiver.WaitForDataAsync(_socket);
                if (wait.HasError)
                {
                    _receiveError = wait.Error;
                    break;
                }
                var memory = writer.GetMemory(MinReceiveBuffer);
                var result = await _receiver.ReceiveAsync(_socket, memory);
                if (result.HasError)
                {
                    _receiveError = result.Error;
                    break;
                }
                if (result.BytesTransferred == 0)
                {
                    break; // FIN
                }
                writer.Advance(result.BytesTransferred);
                var flush = await writer.FlushAsync();
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break; // the reader is gone or we were aborted
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Abort disposed the socket under us.
            _receiveError = SocketError.OperationAborted;
        }
        catch (SocketException e)
        {
            _receiveError = e.SocketErrorCode;
        }
        finally
        {
            _receivedFin = true;
            await writer.CompleteAsync();
            LoopEnded();
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                if (result.IsCanceled)
                {
                    break;
                }
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    var sent = await _sender.SendAsync(_socket, buffer);
                    if (sent.HasError)
                    {
                        break;
                    }
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
        }
        finally
        {
            _sender.Reset();
            await reader.CompleteAsync();
            // The application completed Output: send FIN. A pending receive keeps running until the peer closes or
            // Dispose aborts, so a half-closed peer can still read the rest.
            if (!IsAborted)
            {
                try
                {
                    _socket.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                }
                catch (ObjectDisposedException)
                {
                }
            }
            LoopEnded();
        }
    }

    private void LoopEnded()
    {
        if (Interlocked.Decrement(ref _loopsRunning) == 0)
        {
            _socket.Dispose();
            // Both loops are done: no operation is outstanding on the receiver or the sender any more.
            _argsPool?.Return(_receiver, _sender);
            _closed.TrySetResult();
        }
    }

    /// <summary>
    /// Closes the connection: completes the output (the send loop sends what is buffered, then FIN), waits up to
    /// <paramref name="flushTimeout"/> for that, then, when <paramref name="linger"/> is positive and the peer may
    /// still be sending, reads and discards its input for up to that long before the socket goes. That is nginx's
    /// lingering_close: closing a socket with unread input makes the kernel send RST, and an RST can destroy the
    /// response (a 400 or 413) in the client's receive buffer before the client has read it.
    /// </summary>
    public override async ValueTask CloseAsync(TimeSpan flushTimeout, TimeSpan linger)
    {
        await _output.Writer.CompleteAsync();
        if (_sendTask is not null && !_sendTask.IsCompleted && flushTimeout > TimeSpan.Zero)
        {
            try
            {
                await _sendTask.WaitAsync(flushTimeout);
            }
            catch (TimeoutException)
            {
            }
        }
        if (linger > TimeSpan.Zero && !_receivedFin && !IsAborted)
        {
            // Close paths only: the allocation of a timer here is per connection, not per request.
            using var cts = new CancellationTokenSource(linger);
            try
            {
                var reader = _input.Reader;
                while (true)
                {
                    var result = await reader.ReadAsync(cts.Token);
                    reader.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e) when (e is IOException or SocketException or InvalidOperationException)
            {
            }
        }
        await _input.Reader.CompleteAsync();
        Abort();
        if (_receiveTask is not null)
        {
            await _receiveTask;
        }
        if (_sendTask is not null)
        {
            await _sendTask;
        }
    }

    /// <summary>Connects the (not yet started) socket; the caller starts the loops when this succeeds.</summary>
    public override ValueTask<SocketOperationResult> ConnectAsync(IPEndPoint endPoint) => _receiver.ConnectAsync(_socket, endPoint);

    /// <summary>Bytes the receive loop already took and nobody consumed (the loop reads ahead, so whatever the kernel
    /// had is in the pipe or on its way).</summary>
    public override bool HasPendingInput()
    {
        if (IsAborted || !_input.Reader.TryRead(out var result))
        {
            return false;
        }
        bool pending = !result.Buffer.IsEmpty;
        _input.Reader.AdvanceTo(result.Buffer.Start);
        return pending;
    }

    public override bool HasKernelInput()
    {
        try
        {
            return _socket.Available > 0;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    public static void ConfigureSocket(Socket socket)
    {
        // Nagle's algorithm would hold small heads back waiting for an ACK: off on both sides, as nginx's tcp_nodelay.
        socket.NoDelay = true;
    }

    [Conditional("DEBUG")]
    internal static void AssertEndPoint(EndPoint? endPoint) => Debug.Assert(endPoint is IPEndPoint);
}
