using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using static FastProxy.Transport.Epoll.LinuxInterop;

namespace FastProxy.Transport.Epoll;

/// <summary>Something registered with an <see cref="EpollLoop"/>: it is told which events its descriptor got.</summary>
internal interface IEpollHandler
{
    void OnEvents(uint events);
}

/// <summary>Work handed to a loop's thread from elsewhere (a timeout firing, an abort, a release).</summary>
internal interface IEpollWork
{
    void Execute();
}

/// <summary>
/// One event loop: a thread waiting in epoll_wait and dispatching readiness to the connections registered with it,
/// nginx's worker shape. Connections register edge-triggered once for everything (EPOLLIN, EPOLLOUT, EPOLLRDHUP), so
/// no epoll_ctl is made per operation; a connection's awaiting code resumes inline on this thread when its event
/// comes, so a request is read, forwarded and answered without a thread hop. Other threads hand it work through a
/// queue and an eventfd. A busy loop polls for a few microseconds before it sleeps (<see cref="IdlePollWindow"/>).
/// </summary>
internal sealed unsafe class EpollLoop
{
    private const int MaxEvents = 512;

    // The runtime normalises Thread.SpinWait's iterations to at least 37 ns each (it times the pause instruction at
    // start-up): about a microsecond between two non-blocking polls.
    private const int SpinsBetweenPolls = 30;

    /// <summary>The longest a loop polls before sleeping (Stopwatch ticks); <c>FASTPROXY_POLL_US</c> overrides
    /// the default 10 µs, 0 turns polling off.</summary>
    private static readonly long s_pollMaxTicks = IdlePollWindow.MaxFromEnvironment(Environment.GetEnvironmentVariable("FASTPROXY_POLL_US"));

    /// <summary>How many deferred sends a loop lets pile up before it makes them, mid-turn; <c>FASTPROXY_SEND_BATCH</c>
    /// overrides the default, 0 sends at every flush (see <see cref="DeferSend"/>).</summary>
    private static readonly int s_sendBatch = SendBatchFromEnvironment(Environment.GetEnvironmentVariable("FASTPROXY_SEND_BATCH"));

    internal const int DefaultSendBatch = 16;

    /// <summary>The longest the first deferred send of a batch waits (Stopwatch ticks) while the turn goes on:
    /// <c>FASTPROXY_SEND_DELAY_US</c>, 100 µs by default. Why a time bound besides the count: with TLS handshakes an
    /// event can cost hundreds of microseconds of crypto, and 16 of them made a ServerHello wait for the others (full
    /// handshakes 0.95 of the build bounded at 50 µs, p99 1.8× nginx's); 50 and 200 µs measured alike elsewhere.</summary>
    private static readonly long s_sendDelayTicks =
        SendDelayFromEnvironment(Environment.GetEnvironmentVariable("FASTPROXY_SEND_DELAY_US")) * System.Diagnostics.Stopwatch.Frequency / 1_000_000;

    internal const int DefaultSendDelayMicroseconds = 100;

    [ThreadStatic]
    private static EpollLoop? t_current;

    // The clock as of this loop's latest wake-up (Stopwatch units), nginx's cached time (ngx_time_update once per
    // event-loop turn): what happens in one turn is timed alike, without a clock read per step.
    [ThreadStatic]
    private static long t_now;

    private readonly int _epfd;
    private readonly int _eventFd;
    private readonly ConcurrentQueue<IEpollWork> _work = new();
    private int _wakePending;
    // Registration handles given up on this loop's thread, freed at the end of the turn (see Unregister).
    private readonly List<nint> _handlesToFree = [];
    // Writers whose flush this loop sends at the end of the turn (see DeferSend).
    private readonly List<EpollPipeWriter> _deferredSends = [];
    private long _firstDeferredAt;

    private EpollLoop(int index)
    {
        _epfd = epoll_create1(EPOLL_CLOEXEC);
        if (_epfd < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed: errno {Errno}");
        }
        _eventFd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (_eventFd < 0)
        {
            throw new InvalidOperationException($"eventfd failed: errno {Errno}");
        }
        var ev = new EpollEvent { Events = EPOLLIN, Data = 0 }; // Data 0 marks the eventfd (level-triggered)
        epoll_ctl(_epfd, EPOLL_CTL_ADD, _eventFd, &ev);
        Index = index;
        var thread = new Thread(Run) { IsBackground = true, Name = $"fastproxy-loop-{index}" };
        thread.UnsafeStart();
    }

    public int Index { get; }

    /// <summary>
    /// The system clock (Stopwatch units) as cached at the current loop turn when called on a loop thread, else read
    /// now. For the access log's timings and passive health, which nginx also takes from its cached time.
    /// </summary>
    public static long CachedTimestamp() => t_current is not null ? t_now : System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary><paramref name="clock"/>'s timestamp: the loop's cached one when it is the system clock (tests inject
    /// their own and get exactly what they set).</summary>
    public static long CachedTimestamp(TimeProvider clock) =>
        ReferenceEquals(clock, TimeProvider.System) ? CachedTimestamp() : clock.GetTimestamp();

    /// <summary>The loop whose thread is running the caller, if any.</summary>
    public static EpollLoop? Current => t_current;

    public bool IsCurrent => ReferenceEquals(t_current, this);

    /// <summary>
    /// Registers <paramref name="fd"/> for <paramref name="events"/>; returns the handle that identifies the handler
    /// in events and that <see cref="Unregister"/> frees.
    /// </summary>
    public nint Register(int fd, uint events, IEpollHandler handler, out int errno)
    {
        var handle = GCHandle.Alloc(handler);
        nint pointer = GCHandle.ToIntPtr(handle);
        var ev = new EpollEvent { Events = events, Data = (ulong)pointer };
        if (epoll_ctl(_epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        {
            errno = Errno;
            handle.Free();
            return 0;
        }
        errno = 0;
        return pointer;
    }

    /// <summary>Removes <paramref name="fd"/> (closing the descriptor also does); the handle is freed later.</summary>
    public void Remove(int fd)
    {
        var ev = default(EpollEvent);
        epoll_ctl(_epfd, EPOLL_CTL_DEL, fd, &ev);
    }

    /// <summary>
    /// Frees a registration's handle once no event naming it can still be dispatched: on the loop thread, after the
    /// batch of events being handled now (the descriptor is already closed or removed, so no later batch names it).
    /// On the loop's own thread (a connection closing there, the usual case) the handle joins a list freed at the end
    /// of the turn: no work item allocated, no eventfd wake-up.
    /// </summary>
    public void Unregister(nint handle)
    {
        if (handle == 0)
        {
            return;
        }
        if (IsCurrent)
        {
            _handlesToFree.Add(handle);
            return;
        }
        Post(new HandleRelease(handle));
    }

    /// <summary>Whether flushes on this loop's thread may leave their send to the end of the turn.</summary>
    public bool DefersSends => s_sendBatch > 0;

    /// <summary>
    /// Sends <paramref name="writer"/>'s flushed bytes at the end of this turn, or once <c>FASTPROXY_SEND_BATCH</c>
    /// (16) flushes are waiting or the first has waited <c>FASTPROXY_SEND_DELAY_US</c> (100 µs), whichever comes
    /// first. Why: a client on another core that sleeps is woken by the first bytes sent to it; when a turn answers
    /// many requests, sending each as it is flushed wakes the peer, lets it sleep again, and wakes it again, each
    /// wake-up an inter-processor interrupt that the sending core pays for too (a VM exit under KVM). Sent together,
    /// the peer wakes once and finds them all. The count and the delay bound how long the first response of a long
    /// turn waits for the others. Called by <see cref="EpollPipeWriter.FlushAsync"/> on this thread.
    /// </summary>
    internal void DeferSend(EpollPipeWriter writer)
    {
        if (_deferredSends.Count == 0)
        {
            _firstDeferredAt = System.Diagnostics.Stopwatch.GetTimestamp();
        }
        _deferredSends.Add(writer);
    }

    private void SendDeferred()
    {
        // By index: a send completes no flush (those completed when deferred), so no code runs that could add to the
        // list, but a give-back (EpollConnection.OnDeferredSent) is not worth reasoning about an enumerator for.
        var sends = _deferredSends;
        for (int i = 0; i < sends.Count; i++)
        {
            sends[i].SendDeferred();
        }
        sends.Clear();
    }

    /// <summary>The batch from <c>FASTPROXY_SEND_BATCH</c>: a count (0 = send at every flush), else the default.</summary>
    internal static int SendBatchFromEnvironment(string? value) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int batch)
            ? Math.Min(batch, MaxEvents)
            : DefaultSendBatch;

    /// <summary>The delay from <c>FASTPROXY_SEND_DELAY_US</c>: microseconds up to 10,000 (0 = sent after the event
    /// that flushed), else the default.</summary>
    internal static long SendDelayFromEnvironment(string? value) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int microseconds)
            ? Math.Min(microseconds, 10_000)
            : DefaultSendDelayMicroseconds;

    /// <summary>Runs <paramref name="work"/> on this loop's thread, soon.</summary>
    public void Post(IEpollWork work)
    {
        _work.Enqueue(work);
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            ulong one = 1;
            write(_eventFd, &one, sizeof(ulong));
        }
    }

    private void Run()
    {
        t_current = this;
        var events = (EpollEvent*)NativeMemory.Alloc(MaxEvents, (nuint)sizeof(EpollEvent));
        var window = new IdlePollWindow(s_pollMaxTicks);
        while (true)
        {
            // Polling before sleeping (see IdlePollWindow): while events keep arriving within a few microseconds of
            // the end of a turn, look for them with non-blocking waits for up to the window before sleeping, so the
            // peer whose packet makes the next event does not have to wake this thread.
            long idleStart = System.Diagnostics.Stopwatch.GetTimestamp();
            long now = idleStart;
            long poll = window.NextPoll();
            int count = 0;
            if (poll > 0)
            {
                count = Poll(events, idleStart + poll, out now, out bool waited);
                if (waited)
                {
                    window.OnPolled(found: count != 0);
                }
            }
            if (count == 0)
            {
                count = epoll_wait(_epfd, events, MaxEvents, -1);
                now = System.Diagnostics.Stopwatch.GetTimestamp();
                window.OnSlept(now - idleStart);
            }
            t_now = now;
            if (count < 0)
            {
                if (Errno == EINTR)
                {
                    continue;
                }
                Console.Error.WriteLine($"fastproxy: epoll_wait failed: errno {Errno}");
                Thread.Sleep(10);
                continue;
            }
            bool woken = false;
            for (int i = 0; i < count; i++)
            {
                ulong data = events[i].Data;
                if (data == 0)
                {
                    ulong value;
                    read(_eventFd, &value, sizeof(ulong));
                    Volatile.Write(ref _wakePending, 0);
                    woken = true;
                    continue;
                }
                // Only handlers are registered (Register takes an IEpollHandler): no cast check per event.
                var handler = System.Runtime.CompilerServices.Unsafe.As<IEpollHandler>(GCHandle.FromIntPtr((nint)data).Target!);
                Dispatch(handler, events[i].Events);
                if (_deferredSends.Count > 0 && (_deferredSends.Count >= s_sendBatch
                    || System.Diagnostics.Stopwatch.GetTimestamp() - _firstDeferredAt >= s_sendDelayTicks))
                {
                    SendDeferred();
                }
            }
            // Work posted from other threads, and releases of handles that events above may have named. Only in a turn
            // the eventfd woke: every Post raises it unless a wake is already pending, and a pending one is reset above
            // before this drain, so nothing posted waits longer than one turn.
            while (woken && _work.TryDequeue(out var work))
            {
                try
                {
                    work.Execute();
                }
                catch (Exception e)
                {
                    ReportBug(e);
                }
            }
            if (_deferredSends.Count > 0)
            {
                SendDeferred();
            }
            if (_handlesToFree.Count > 0)
            {
                FreeHandles();
            }
        }
    }

    /// <summary>
    /// Non-blocking waits until events come or <paramref name="deadline"/> passes, a pause of about a microsecond
    /// between them so the polls do not crowd the epoll instance's lock that other cores take to report readiness.
    /// </summary>
    private int Poll(EpollEvent* events, long deadline, out long now, out bool waited)
    {
        waited = false;
        while (true)
        {
            int count = epoll_wait(_epfd, events, MaxEvents, 0);
            now = System.Diagnostics.Stopwatch.GetTimestamp();
            if (count != 0 || now >= deadline)
            {
                return count;
            }
            waited = true;
            Thread.SpinWait(SpinsBetweenPolls);
        }
    }

    private void FreeHandles()
    {
        foreach (nint handle in _handlesToFree)
        {
            GCHandle.FromIntPtr(handle).Free();
        }
        _handlesToFree.Clear();
    }

    private static void Dispatch(IEpollHandler handler, uint events)
    {
        try
        {
            handler.OnEvents(events);
        }
        catch (Exception e)
        {
            // Awaiting code resumed here catches its own exceptions; one that escapes is a bug, and must not take
            // every other connection of this loop down with it.
            ReportBug(e);
        }
    }

    private static void ReportBug(Exception e) => Console.Error.WriteLine($"fastproxy: unhandled exception on an event loop: {e}");

    /// <summary>
    /// Has every started loop let go of the readers and writers its connections gave back and nobody took again for
    /// a while (<see cref="LoopPool{T}.Trim"/>). The heartbeat's, once a second; nothing when no loop was started.
    /// </summary>
    public static void TrimPools()
    {
        var loops = Volatile.Read(ref s_loops);
        if (loops is null)
        {
            return;
        }
        foreach (var loop in loops)
        {
            loop.Post(PoolTrim.Instance);
        }
    }

    private sealed class PoolTrim : IEpollWork
    {
        public static readonly PoolTrim Instance = new();

        public void Execute()
        {
            long now = System.Diagnostics.Stopwatch.GetTimestamp();
            LoopPool<EpollPipeReader>.Trim(now);
            LoopPool<EpollPipeWriter>.Trim(now);
        }
    }

    private sealed class HandleRelease(nint handle) : IEpollWork
    {
        public void Execute() => GCHandle.FromIntPtr(handle).Free();
    }

    // ---- The loops of the process -----------------------------------------------------------------------------

    private static EpollLoop[]? s_loops;
    private static int s_next;
    private static readonly object s_gate = new();

    /// <summary>
    /// The process's loops, one per processor the process may run on (nginx's worker_processes auto), started on first
    /// use and shared by every server in the process, as .NET's own socket engine is.
    /// </summary>
    public static EpollLoop[] All
    {
        get
        {
            var loops = Volatile.Read(ref s_loops);
            if (loops is not null)
            {
                return loops;
            }
            lock (s_gate)
            {
                if (s_loops is null)
                {
                    var created = new EpollLoop[Math.Max(1, Environment.ProcessorCount)];
                    for (int i = 0; i < created.Length; i++)
                    {
                        created[i] = new EpollLoop(i);
                    }
                    Volatile.Write(ref s_loops, created);
                }
                return s_loops;
            }
        }
    }

    /// <summary>The loop for a new outbound connection: the caller's own (a request's backend connection completes on
    /// the same thread as its client connection), else the next one round-robin.</summary>
    public static EpollLoop Pick()
    {
        var current = t_current;
        if (current is not null)
        {
            return current;
        }
        var loops = All;
        return loops[(int)((uint)Interlocked.Increment(ref s_next) % (uint)loops.Length)];
    }
}
