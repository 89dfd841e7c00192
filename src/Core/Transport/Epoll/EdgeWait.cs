using System.Threading.Tasks.Sources;

namespace FastProxy.Transport.Epoll;

/// <summary>
/// The waiting half of an epoll reader's or writer's operation: the value-task source the awaiting code waits on,
/// the flag saying an operation is parked until the next edge, and its optional cancellation token. Exactly one party
/// completes a parked operation: whoever takes it over with <see cref="Take"/> (the loop thread on the next event, or
/// a canceller, which then posts it to the loop). A mutable struct: keep it in a field and use it in place.
/// </summary>
internal struct EdgeWait<TResult>
{
    public ManualResetValueTaskSourceCore<TResult> Source;
    private int _parked;
    private int _tokenCancelled;
    private CancellationToken _token;
    private CancellationTokenRegistration _registration;

    public readonly short Version => Source.Version;

    public bool IsParked => Volatile.Read(ref _parked) == 1;

    public bool TokenCancelled => Volatile.Read(ref _tokenCancelled) != 0;

    /// <summary>A cancellation token is registered for the current operation.</summary>
    public readonly bool HasRegistration => _registration != default;

    /// <summary>Starts a new wait and publishes it with a full fence: the caller re-checks afterwards whatever could
    /// have completed it meanwhile, and takes it back when something did.</summary>
    public void Park()
    {
        Source.Reset();
        Interlocked.Exchange(ref _parked, 1);
    }

    /// <summary>Publishes the same operation's wait again (the loop found the event spurious).</summary>
    public void Repark() => Interlocked.Exchange(ref _parked, 1);

    /// <summary>Takes the parked operation over; true for exactly one caller per wait.</summary>
    public bool Take() => Interlocked.CompareExchange(ref _parked, 0, 1) == 1;

    public void Register(CancellationToken token, Action<object?> onCancelled, object owner)
    {
        _token = token;
        _registration = token.UnsafeRegister(onCancelled, owner);
    }

    /// <summary>The token fired: true when the caller took the parked operation and must hand it to the loop.</summary>
    public bool OnTokenCancelled()
    {
        Volatile.Write(ref _tokenCancelled, 1);
        return Take();
    }

    /// <summary>On the loop, for a taken operation: completes it with the token's cancellation if the token fired.</summary>
    public bool TryCompleteCancelled()
    {
        if (!TokenCancelled)
        {
            return false;
        }
        Volatile.Write(ref _tokenCancelled, 0);
        Source.SetException(new OperationCanceledException(_token));
        return true;
    }

    public TResult GetResult(short token)
    {
        if (_registration != default)
        {
            // Dispose waits for a running callback. The token may have fired after the operation was completed
            // otherwise (the loop took it over with data): its flag must not cancel a later operation.
            _registration.Dispose();
            _registration = default;
            _token = default;
            Volatile.Write(ref _tokenCancelled, 0);
        }
        return Source.GetResult(token);
    }

    public readonly ValueTaskSourceStatus GetStatus(short token) => Source.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        Source.OnCompleted(continuation, state, token, flags);
}
