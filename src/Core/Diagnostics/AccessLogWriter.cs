using System.Numerics;
using System.Runtime.CompilerServices;

namespace FastProxy.Diagnostics;

/// <summary>
/// Writes access-log lines for one file off the request path. A request formats its line into a buffer it rents
/// from <see cref="RentLine"/> and hands it back with <see cref="Commit"/>; one background thread appends the lines
/// to the file in order of commit, flushing when <c>buffer=</c> fills or <c>flush=</c> elapses (nginx's access_log
/// parameters; without buffer= every line is written at once, as in nginx).
/// </summary>
/// <remarks>
/// No lock and no allocation per line in steady state: line buffers come from a bounded set owned by the writer
/// (made on demand up to <c>lineBufferCount</c>, so a quiet log holds a few and a busy one reaches its working set
/// during warm-up), and committed lines travel through a bounded lock-free queue (Vyukov's MPMC ring, used by one
/// consumer). When every line buffer is in flight a producer waits briefly for one; a line is never dropped silently:
/// if it still cannot get one it is counted in <see cref="DroppedLines"/>. The file is opened for appending as nginx
/// opens it (<see cref="AppendFile"/>).
/// </remarks>
internal sealed class AccessLogWriter : IAsyncDisposable
{
    /// <summary>Longest line kept whole; longer lines are cut (nginx cuts at its buffer size too).</summary>
    internal const int MaxLineLength = 4096;

    /// <summary>How long a request waits for a line buffer when the writer is behind before its line is dropped.</summary>
    internal const int MaxWaitMilliseconds = 200;

    /// <summary>
    /// While lines keep coming the writer thread naps this long between drains instead of being woken per line: one
    /// write() per batch and no wake-up cost on the request path. A line waits at most about this long.
    /// </summary>
    private const int BusyNapMilliseconds = 1;

    private readonly string _path;
    private readonly int _bufferSize;
    private readonly TimeSpan _flushInterval;
    private readonly BoundedQueue<LineBuffer> _free;
    private readonly BoundedQueue<LineBuffer> _committed;
    private readonly SemaphoreSlim _signal = new(0);
    private readonly Thread _thread;
    // Travels through the committed queue like a line, so every line committed after Reopen() lands in the new file.
    private readonly LineBuffer _reopenMarker = new();
    private volatile bool _stopping;
    // 1 while the writer thread is (about to be) asleep: only then does a producer pay for a wake-up.
    private int _writerIdle;
    private readonly int _lineBufferCount;
    private int _lineBuffersCreated;
    private long _droppedLines;
    private long _writtenLines;
    private AppendFile? _file;

    public AccessLogWriter(string path, int bufferSize = 0, TimeSpan flushInterval = default, int lineBufferCount = 1024)
    {
        _path = path;
        _bufferSize = bufferSize;
        _flushInterval = flushInterval;
        _lineBufferCount = lineBufferCount;
        _free = new BoundedQueue<LineBuffer>(lineBufferCount);
        _committed = new BoundedQueue<LineBuffer>(lineBufferCount + 1);
        _file = AppendFile.Open(path, out string? error);
        OpenError = error;
        _thread = new Thread(Run) { IsBackground = true, Name = "fastproxy access log" };
        _thread.Start();
    }

    public string Path => _path;

    public int BufferSize => _bufferSize;

    public TimeSpan FlushInterval => _flushInterval;

    /// <summary>True once the file has been opened (false when the last open failed: lines are then dropped).</summary>
    public bool IsOpen => Volatile.Read(ref _file) is not null;

    /// <summary>Why the file could not be opened at construction (null when it was).</summary>
    public string? OpenError { get; }

    /// <summary>Lines that could not be logged because every line buffer stayed in flight.</summary>
    public long DroppedLines => Interlocked.Read(ref _droppedLines);

    /// <summary>Lines handed to the file so far.</summary>
    public long WrittenLines => Interlocked.Read(ref _writtenLines);

    /// <summary>Takes a line buffer to format into, or null when none is free (the line is then counted as dropped).</summary>
    public LineBuffer? RentLine()
    {
        if (_free.TryDequeue(out var line))
        {
            return line;
        }
        // Grow the set up to its bound (warm-up); only then wait for the writer.
        if (Volatile.Read(ref _lineBuffersCreated) < _lineBufferCount)
        {
            if (Interlocked.Increment(ref _lineBuffersCreated) <= _lineBufferCount)
            {
                return new LineBuffer();
            }
            Interlocked.Decrement(ref _lineBuffersCreated);
        }
        // The writer thread is behind (the disk, or no CPU for it): wait for it, yielding the CPU, as nginx's worker
        // waits in its synchronous write(); after MaxWaitMilliseconds count the line as lost rather than stall longer.
        long deadline = Environment.TickCount64 + MaxWaitMilliseconds;
        var spinner = new SpinWait();
        while (true)
        {
            spinner.SpinOnce();
            if (_free.TryDequeue(out line))
            {
                return line;
            }
            if (Environment.TickCount64 > deadline)
            {
                Interlocked.Increment(ref _droppedLines);
                return null;
            }
        }
    }

    /// <summary>Queues a formatted line (a newline is appended if missing).</summary>
    public void Commit(LineBuffer line)
    {
        line.EnsureNewline();
        if (!_committed.TryEnqueue(line))
        {
            // Cannot happen: the committed queue has room for every line buffer there is.
            line.Length = 0;
            _free.TryEnqueue(line);
            Interlocked.Increment(ref _droppedLines);
            return;
        }
        WakeWriter();
    }

    private void WakeWriter()
    {
        // The line's publication (a store) must be visible before _writerIdle is read (a load): a full fence, or the
        // writer could see an empty queue and sleep while this producer sees it busy and does not wake it.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _writerIdle) == 1 && Interlocked.Exchange(ref _writerIdle, 0) == 1)
        {
            _signal.Release();
        }
    }

    /// <summary>SIGUSR1: close and reopen the file (log rotation), done by the writer thread.</summary>
    public void Reopen()
    {
        var spinner = new SpinWait();
        while (!_committed.TryEnqueue(_reopenMarker))
        {
            spinner.SpinOnce();
        }
        WakeWriter();
    }

    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        _signal.Release();
        await Task.Run(() => _thread.Join(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        if (DroppedLines > 0)
        {
            Console.Error.WriteLine($"fastproxy: [warn] {DroppedLines} access log lines to \"{_path}\" were dropped");
        }
        _file?.Dispose();
        _file = null;
        _signal.Dispose();
    }

    private static AppendFile? Open(string path)
    {
        var file = AppendFile.Open(path, out string? error);
        if (file is null)
        {
            Console.Error.WriteLine($"fastproxy: [alert] open() \"{path}\" failed ({error})");
        }
        return file;
    }

    private void Run()
    {
        // One staging buffer: lines are copied into it and written in one call when it fills, on flush= or at once
        // when there is no buffer=.
        var staging = new byte[Math.Max(_bufferSize, 64 * 1024)];
        int staged = 0;
        var lastFlush = Environment.TickCount64;
        // Without buffer= lines are written as soon as the thread sees them; with it, when the buffer fills or at the
        // latest after flush= (nginx without flush= waits for the buffer to fill; FastProxy then flushes after 1 s,
        // so a quiet server's last lines do not wait for the next ones).
        int flushMs = (int)Math.Clamp(_flushInterval.TotalMilliseconds is > 0 and var ms ? ms : 1000, 10, int.MaxValue);
        while (true)
        {
            bool stopping = _stopping;
            int drained = 0;
            while (_committed.TryDequeue(out var line))
            {
                drained++;
                if (ReferenceEquals(line, _reopenMarker))
                {
                    WriteOut(staging, ref staged);
                    // nginx keeps writing to the old file when the new one cannot be opened (ngx_reopen_files).
                    if (Open(_path) is { } reopened)
                    {
                        _file?.Dispose();
                        _file = reopened;
                    }
                    continue;
                }
                if (staged + line.Length > staging.Length)
                {
                    WriteOut(staging, ref staged);
                }
                line.Span.CopyTo(staging.AsSpan(staged));
                staged += line.Length;
                line.Length = 0;
                _free.TryEnqueue(line);
                Interlocked.Increment(ref _writtenLines);
            }
            long now = Environment.TickCount64;
            if (staged == 0)
            {
                lastFlush = now;
            }
            else if (_bufferSize == 0 || staged >= _bufferSize || now - lastFlush >= flushMs || stopping)
            {
                WriteOut(staging, ref staged);
                lastFlush = now;
            }
            if (stopping)
            {
                return;
            }
            if (drained > 0)
            {
                // Busy: come back for the next batch instead of asking every producer to wake us.
                Thread.Sleep(BusyNapMilliseconds);
                continue;
            }
            // Idle: announce the sleep, then look once more; a line committed in between is either seen here or
            // wakes us. With lines staged, wake up in time for flush=.
            Interlocked.Exchange(ref _writerIdle, 1);
            if (_committed.IsEmpty && !_stopping)
            {
                _signal.Wait(staged > 0 ? (int)Math.Max(1, flushMs - (now - lastFlush)) : Timeout.Infinite);
            }
            Interlocked.Exchange(ref _writerIdle, 0);
        }
    }

    private void WriteOut(byte[] staging, ref int staged)
    {
        if (staged == 0)
        {
            return;
        }
        if (_file is { } file && !file.Write(staging.AsSpan(0, staged), out string? error))
        {
            Console.Error.WriteLine($"fastproxy: [alert] write() to \"{_path}\" failed ({error})");
        }
        staged = 0;
    }

    /// <summary>A reusable buffer for one formatted line.</summary>
    internal sealed class LineBuffer
    {
        private readonly byte[] _bytes = new byte[MaxLineLength];

        public int Length { get; set; }

        public Span<byte> Free => _bytes.AsSpan(Length);

        public ReadOnlySpan<byte> Span => _bytes.AsSpan(0, Length);

        /// <summary>Appends as much of <paramref name="text"/> as fits (the rest of an over-long line is cut).</summary>
        public void Append(scoped ReadOnlySpan<byte> text)
        {
            int n = Math.Min(text.Length, _bytes.Length - 1 - Length);
            text.Slice(0, n).CopyTo(_bytes.AsSpan(Length));
            Length += n;
        }

        /// <summary>Appends UTF-8 of <paramref name="text"/>, cut where the line is full.</summary>
        public void Append(scoped ReadOnlySpan<char> text)
        {
            System.Text.Unicode.Utf8.FromUtf16(text, _bytes.AsSpan(Length, _bytes.Length - 1 - Length), out _, out int written);
            Length += written;
        }

        internal void EnsureNewline()
        {
            if (Length == 0 || _bytes[Length - 1] != (byte)'\n')
            {
                _bytes[Length++] = (byte)'\n';
            }
        }
    }
}

/// <summary>
/// Bounded lock-free multi-producer multi-consumer queue (Dmitry Vyukov's design): each cell carries a sequence
/// number, so producers and consumers claim cells with one CAS on a position counter and never block each other.
/// </summary>
internal sealed class BoundedQueue<T> where T : class
{
    private readonly Cell[] _cells;
    private readonly int _mask;
    private PaddedLong _enqueuePos;
    private PaddedLong _dequeuePos;

    public BoundedQueue(int capacity)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 2));
        _cells = new Cell[size];
        _mask = size - 1;
        for (int i = 0; i < size; i++)
        {
            _cells[i].Sequence = i;
        }
    }

    public bool TryEnqueue(T item)
    {
        long pos = Volatile.Read(ref _enqueuePos.Value);
        while (true)
        {
            ref Cell cell = ref _cells[pos & _mask];
            long seq = Volatile.Read(ref cell.Sequence);
            long diff = seq - pos;
            if (diff == 0)
            {
                if (Interlocked.CompareExchange(ref _enqueuePos.Value, pos + 1, pos) == pos)
                {
                    cell.Item = item;
                    Volatile.Write(ref cell.Sequence, pos + 1);
                    return true;
                }
                pos = Volatile.Read(ref _enqueuePos.Value);
            }
            else if (diff < 0)
            {
                return false; // full
            }
            else
            {
                pos = Volatile.Read(ref _enqueuePos.Value);
            }
        }
    }

    /// <summary>True when no item is waiting (a snapshot: producers may add one right after).</summary>
    public bool IsEmpty
    {
        get
        {
            long pos = Volatile.Read(ref _dequeuePos.Value);
            return Volatile.Read(ref _cells[pos & _mask].Sequence) - (pos + 1) < 0;
        }
    }

    public bool TryDequeue([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? item)
    {
        long pos = Volatile.Read(ref _dequeuePos.Value);
        while (true)
        {
            ref Cell cell = ref _cells[pos & _mask];
            long seq = Volatile.Read(ref cell.Sequence);
            long diff = seq - (pos + 1);
            if (diff == 0)
            {
                if (Interlocked.CompareExchange(ref _dequeuePos.Value, pos + 1, pos) == pos)
                {
                    item = cell.Item!;
                    cell.Item = null;
                    Volatile.Write(ref cell.Sequence, pos + _mask + 1);
                    return true;
                }
                pos = Volatile.Read(ref _dequeuePos.Value);
            }
            else if (diff < 0)
            {
                item = null;
                return false; // empty
            }
            else
            {
                pos = Volatile.Read(ref _dequeuePos.Value);
            }
        }
    }

    private struct Cell
    {
        public long Sequence;
        public T? Item;
    }
}

// Producers and consumers touch different counters: keep each on its own cache line.
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 128)]
internal struct PaddedLong
{
    [System.Runtime.InteropServices.FieldOffset(64)]
    public long Value;
}
