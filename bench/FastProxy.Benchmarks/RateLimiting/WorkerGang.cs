namespace FastProxy.Benchmarks.RateLimiting;

/// <summary>Threads started once and released together for each benchmark invocation (no allocation per run).</summary>
internal sealed class WorkerGang : IDisposable
{
    private readonly Thread[] _threads;
    private readonly Barrier _start;
    private readonly Barrier _end;
    private Action<int>? _work;
    private volatile bool _stopping;

    public WorkerGang(int count)
    {
        _start = new Barrier(count + 1);
        _end = new Barrier(count + 1);
        _threads = new Thread[count];
        for (int i = 0; i < count; i++)
        {
            int id = i;
            _threads[i] = new Thread(() => Loop(id)) { IsBackground = true, Name = $"bench-worker-{id}" };
            _threads[i].Start();
        }
    }

    public void Run(Action<int> work)
    {
        Volatile.Write(ref _work, work);
        _start.SignalAndWait();
        _end.SignalAndWait();
    }

    public void Dispose()
    {
        _stopping = true;
        _start.SignalAndWait();
        foreach (Thread thread in _threads)
        {
            thread.Join(TimeSpan.FromSeconds(10));
        }

        _start.Dispose();
        _end.Dispose();
    }

    private void Loop(int id)
    {
        while (true)
        {
            _start.SignalAndWait();
            if (_stopping)
            {
                return;
            }

            Volatile.Read(ref _work)!(id);
            _end.SignalAndWait();
        }
    }
}
