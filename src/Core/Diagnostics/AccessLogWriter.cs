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
/// No lock and no allocation per line in steady state: line buffers come from a fixed set owned by the writer, and
/// committed lines travel through a bounded lock-free queue (Vyukov's MPMC ring, used by one consumer). When every
/// line buffer is in flight a producer waits briefly for one; a line is never dropped silently — if it still cannot
/// get one it is counted in <see cref="DroppedLines"/>, which the error log reports.
/// </remarks>
internal sealed class AccessLogWriter : IAsyncDisposable
{
    /// <summary>Longest line kept whole; longer lines are cut (nginx cuts at its buffer size too).</summary>
    internal const int MaxLineLength = 4096;

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
    private long _droppedLines;
    private long _writtenLines;
    private FileStream? _file;

    public AccessLogWriter(string path, int bufferSize = 0, TimeSpan flushInterval = default, int lineBufferCount = 1024)
    {
        _path = path;
        _bufferSize = bufferSize;
        _flushInterval = flushInterval;
        _free = new BoundedQueue<LineBuffer>(lineBufferCount);
        _committed = new BoundedQueue<LineBuffer>(lineBufferCount + 1);
        for (int i = 0; i < lineBufferCount; i++)
        {
            _free.TryEnqueue(new LineBuffer());
        }
        _file = Open(path);
        _thread = new Thread(Run) { IsBackground = true, Name = "fastproxy access log" };
        _thread.Start();
    }

    public string Path => _path;

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
        // The writer thread is behind: give it a moment (bounded), then count the loss instead of blocking the request.
        var spinner = new SpinWait();
        for (int i = 0; i < 64; i++)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
            if (_free.TryDequeue(out line))
            {
                return line;
            }
        }
        Interlocked.Increment(ref _droppedLines);
        return null;
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
        _file?.Dispose();
        _file = null;
        _signal.Dispose();
    }

    private static FileStream? Open(string path)
    {
        try
        {
            string? dir = System.IO.Path.GetDirectoryName(path);
            if (!string.IsNullOrEmpty(dir))
            {
                Directory.CreateDirectory(dir);
            }
            return new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"fastproxy: open() \"{path}\" failed ({ex.Message})");
            return null;
        }
    }

    private void Run()
    {
        // One staging buffer: lines are copied into it and written in one call when it fills, on flush= or at once
        // when there is no buffer=.
        var staging = new byte[Math.Max(_bufferSize, 64 * 1024)];
        int staged = 0;
        var lastFlush = Environment.TickCount64;
        // Without buffer= each line is written as soon as the thread sees it; with it, at the latest after flush=.
        int waitMs = _bufferSize == 0 ? Timeout.Infinite : (int)Math.Clamp(_flushInterval.TotalMilliseconds is > 0 and var ms ? ms : 1000, 10, int.MaxValue);
        while (true)
        {
            bool stopping = _stopping;
            while (_committed.TryDequeue(out var line))
            {
                if (ReferenceEquals(line, _reopenMarker))
                {
                    WriteOut(staging, ref staged);
                    _file?.Dispose();
                    _file = Open(_path);
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
            if (staged > 0 && (_bufferSize == 0 || staged >= _bufferSize || now - lastFlush >= waitMs || stopping))
            {
                WriteOut(staging, ref staged);
                lastFlush = now;
            }
            if (stopping)
            {
                return;
            }
            // Announce the nap, then look once more: a line committed in between is either seen here or wakes us.
            Interlocked.Exchange(ref _writerIdle, 1);
            if (_committed.IsEmpty && !_stopping)
            {
                _signal.Wait(waitMs);
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
        try
        {
            _file?.Write(staging, 0, staged);
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"fastproxy: write() to \"{_path}\" failed ({ex.Message})");
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
