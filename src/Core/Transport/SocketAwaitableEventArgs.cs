using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace FastProxy.Transport;

/// <summary>The outcome of one socket operation: bytes transferred, or the error as a value (no exception).</summary>
internal readonly struct SocketOperationResult(int bytesTransferred, SocketError error)
{
    public int BytesTransferred { get; } = bytesTransferred;
    public SocketError Error { get; } = error;
    public bool HasError => Error != SocketError.Success;
}

/// <summary>
/// A reusable SocketAsyncEventArgs that is its own <see cref="IValueTaskSource{T}"/>, so awaiting a receive, send or
/// connect allocates nothing (Kestrel's shape). It deliberately does not support: more than one outstanding operation,
/// awaiting the same ValueTask twice, ExecutionContext flow (suppressed: the data path has no ambient state), and
/// synchronization contexts (there are none on our threads).
/// </summary>
internal abstract class SocketAwaitableEventArgs : SocketAsyncEventArgs, IValueTaskSource<SocketOperationResult>
{
    private static readonly Action<object?> s_completedSentinel = static _ => { };

    private readonly PipeScheduler _ioScheduler;
    private Action<object?>? _continuation;
    private object? _continuationState;

    public SocketAwaitableEventArgs(PipeScheduler ioScheduler)
        : base(unsafeSuppressExecutionContextFlow: true)
    {
        _ioScheduler = ioScheduler;
    }

    protected override void OnCompleted(SocketAsyncEventArgs _)
    {
        var continuation = _continuation;
        if (continuation != null || (continuation = Interlocked.CompareExchange(ref _continuation, s_completedSentinel, null)) != null)
        {
            var state = _continuationState;
            _continuationState = null;
            _ioScheduler.Schedule(continuation, state);
        }
    }

    public SocketOperationResult GetResult(short token)
    {
        _continuation = null;
        return new SocketOperationResult(BytesTransferred, SocketError);
    }

    public ValueTaskSourceStatus GetStatus(short token) =>
        !ReferenceEquals(_continuation, s_completedSentinel) ? ValueTaskSourceStatus.Pending :
        SocketError == SocketError.Success ? ValueTaskSourceStatus.Succeeded : ValueTaskSourceStatus.Faulted;

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        _continuationState = state;
        if (ReferenceEquals(Interlocked.CompareExchange(ref _continuation, continuation, null), s_completedSentinel))
        {
            // Completed between the pending check and here: run it ourselves, never inline (stack dives).
            _continuationState = null;
            ThreadPool.UnsafeQueueUserWorkItem(continuation, state, preferLocal: true);
        }
    }

    /// <summary>Wraps a started operation: completed synchronously → a ready result, else this source.</summary>
    protected ValueTask<SocketOperationResult> Complete(bool pending) =>
        pending ? new ValueTask<SocketOperationResult>(this, 0) : new ValueTask<SocketOperationResult>(new SocketOperationResult(BytesTransferred, SocketError));
}

/// <summary>Receives into pipe memory; a zero-byte receive waits for data without holding a buffer.</summary>
internal sealed class SocketReceiver(PipeScheduler ioScheduler) : SocketAwaitableEventArgs(ioScheduler)
{
    public ValueTask<SocketOperationResult> WaitForDataAsync(Socket socket)
    {
        SetBuffer(Memory<byte>.Empty);
        return Complete(socket.ReceiveAsync(this));
    }

    public ValueTask<SocketOperationResult> ReceiveAsync(Socket socket, Memory<byte> buffer)
    {
        SetBuffer(buffer);
        return Complete(socket.ReceiveAsync(this));
    }

    public ValueTask<SocketOperationResult> ConnectAsync(Socket socket, System.Net.EndPoint endPoint)
    {
        SetBuffer(Memory<byte>.Empty);
        RemoteEndPoint = endPoint;
        return Complete(socket.ConnectAsync(this));
    }

    /// <summary>Drops the last buffer and address so that a pooled receiver roots nothing.</summary>
    public void Reset()
    {
        SetBuffer(Memory<byte>.Empty);
        RemoteEndPoint = null;
    }
}

/// <summary>Sends a pipe's buffered sequence, gathering multi-segment sequences into one send.</summary>
internal sealed class SocketSender(PipeScheduler ioScheduler) : SocketAwaitableEventArgs(ioScheduler)
{
    private List<ArraySegment<byte>>? _bufferList;

    public ValueTask<SocketOperationResult> SendAsync(Socket socket, in System.Buffers.ReadOnlySequence<byte> buffers)
    {
        if (buffers.IsSingleSegment)
        {
            return SendAsync(socket, buffers.First);
        }
        SetBuffer(null, 0, 0);
        BufferList = GetBufferList(buffers);
        return Complete(socket.SendAsync(this));
    }

    private ValueTask<SocketOperationResult> SendAsync(Socket socket, ReadOnlyMemory<byte> memory)
    {
        // The BufferList getter is much cheaper than its setter.
        if (BufferList != null)
        {
            BufferList = null;
        }
        SetBuffer(System.Runtime.InteropServices.MemoryMarshal.AsMemory(memory));
        return Complete(socket.SendAsync(this));
    }

    private List<ArraySegment<byte>> GetBufferList(in System.Buffers.ReadOnlySequence<byte> buffers)
    {
        _bufferList ??= new List<ArraySegment<byte>>(4);
        _bufferList.Clear();
        foreach (var segment in buffers)
        {
            if (!System.Runtime.InteropServices.MemoryMarshal.TryGetArray(segment, out var array))
            {
                // Our pools are array-backed; a native buffer here is a bug.
                throw new InvalidOperationException("Buffer is not backed by an array.");
            }
            _bufferList.Add(array);
        }
        return _bufferList;
    }

    /// <summary>Drops references to the last buffers so a pooled block is not rooted by an idle connection.</summary>
    public void Reset()
    {
        if (BufferList != null)
        {
            BufferList = null;
        }
        _bufferList?.Clear();
        SetBuffer(null, 0, 0);
    }
}
