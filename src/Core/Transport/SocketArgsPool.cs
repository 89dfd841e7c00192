using System.IO.Pipelines;
using Microsoft.Extensions.ObjectPool;

namespace FastProxy.Transport;

/// <summary>
/// Pools the per-connection socket operation objects (Kestrel pools its SocketSenders the same way): a connection
/// rents a receiver and a sender when it is created and returns them once both of its loops have ended, so a
/// short-lived connection does not allocate two SocketAsyncEventArgs (each with its own buffers and state).
/// </summary>
internal sealed class SocketArgsPool
{
    // Enough for the connections a busy server opens and closes at once; DefaultObjectPool keeps them in a
    // ConcurrentQueue, so a large bound costs nothing until used.
    private const int MaxRetained = 1024;

    private readonly ObjectPool<SocketReceiver> _receivers;
    private readonly ObjectPool<SocketSender> _senders;

    public SocketArgsPool(PipeScheduler scheduler)
    {
        _receivers = new DefaultObjectPool<SocketReceiver>(new ReceiverPolicy(scheduler), MaxRetained);
        _senders = new DefaultObjectPool<SocketSender>(new SenderPolicy(scheduler), MaxRetained);
    }

    public SocketReceiver RentReceiver() => _receivers.Get();

    public SocketSender RentSender() => _senders.Get();

    /// <summary>Only when no operation is outstanding on either (both loops ended, or they never started).</summary>
    public void Return(SocketReceiver receiver, SocketSender sender)
    {
        _receivers.Return(receiver);
        _senders.Return(sender);
    }

    private sealed class ReceiverPolicy(PipeScheduler scheduler) : PooledObjectPolicy<SocketReceiver>
    {
        public override SocketReceiver Create() => new(scheduler);

        public override bool Return(SocketReceiver obj)
        {
            obj.Reset();
            return true;
        }
    }

    private sealed class SenderPolicy(PipeScheduler scheduler) : PooledObjectPolicy<SocketSender>
    {
        public override SocketSender Create() => new(scheduler);

        public override bool Return(SocketSender obj)
        {
            obj.Reset();
            return true;
        }
    }
}
