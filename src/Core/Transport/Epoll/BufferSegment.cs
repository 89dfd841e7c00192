using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastProxy.Transport.Epoll;

/// <summary>
/// One block of a connection's input or output: a pinned array (so a syscall takes its address without pinning) and
/// how much of it holds data. Blocks are pooled with their segment objects, so buffering allocates nothing in steady
/// state, and a connection that waits with nothing buffered holds no block at all (nginx frees an idle keep-alive
/// connection's buffers the same way).
/// </summary>
internal sealed unsafe class BufferSegment : ReadOnlySequenceSegment<byte>
{
    /// <summary>16 KiB, as <see cref="PinnedBlockMemoryPool.DefaultBlockSize"/>: few syscalls for big bodies.</summary>
    public const int BlockSize = PinnedBlockMemoryPool.DefaultBlockSize;

    private readonly byte[] _array;

    private BufferSegment(byte[] array)
    {
        _array = array;
    }

    /// <summary>Bytes written into the block (data runs from 0 to End; readers start at their own index).</summary>
    public int End { get; private set; }

    public int Capacity => _array.Length;

    public int Free => _array.Length - End;

    public bool IsPooled => _array.Length == BlockSize;

    public byte* Pointer => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));

    public Memory<byte> FreeMemory => _array.AsMemory(End);

    public Span<byte> FreeSpan => _array.AsSpan(End);

    /// <summary>Writes the block's data (or its first <paramref name="count"/> bytes) to a stream, from the array itself.</summary>
    public void Write(Stream stream, int count = -1) => stream.Write(_array, 0, count < 0 ? End : count);

    public void Grow(int count)
    {
        End += count;
        Memory = _array.AsMemory(0, End);
    }

    /// <summary>The next block (every segment in a chain is a BufferSegment: no type check on the hot path).</summary>
    public BufferSegment? NextSegment => Unsafe.As<BufferSegment?>(Next);

    public void SetNext(BufferSegment next)
    {
        next.RunningIndex = RunningIndex + End;
        Next = next;
    }

    private void Reset()
    {
        End = 0;
        Memory = default;
        Next = null;
        RunningIndex = 0;
    }

    // ---- The pool: a small per-thread stack in front of one shared queue ------------------------------------------

    private const int ThreadCacheSize = 64;
    // Blocks kept beyond the threads' caches: at most 4,096 (64 MiB). A burst that needed more gives the rest back to
    // the GC at once, and the heartbeat lets go of those it left unused (TrimShared).
    private const int SharedLimit = 4096;
    private static readonly Infrastructure.SharedStock<BufferSegment> s_shared = new(SharedLimit);

    [ThreadStatic]
    private static BufferSegment[]? t_cache;
    [ThreadStatic]
    private static int t_count;

    /// <summary>A block with at least <paramref name="minimum"/> free bytes (a standard pooled block when it fits).</summary>
    public static BufferSegment Rent(int minimum = 1)
    {
        if (minimum > BlockSize)
        {
            // A head bigger than a block (rare): an unpooled pinned array of its size, dropped after use.
            return new BufferSegment(GC.AllocateUninitializedArray<byte>(minimum, pinned: true));
        }
        var cache = t_cache;
        if (cache is not null && t_count > 0)
        {
            var segment = cache[--t_count];
            cache[t_count] = null!;
            return segment;
        }
        if (s_shared.TryTake(out var shared))
        {
            return shared;
        }
        return new BufferSegment(GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true));
    }

    /// <summary>Returns <paramref name="head"/> and every block after it.</summary>
    public static void ReturnChain(BufferSegment? head)
    {
        while (head is not null)
        {
            var next = head.NextSegment;
            Return(head);
            head = next;
        }
    }

    public static void Return(BufferSegment segment)
    {
        if (!segment.IsPooled)
        {
            return;
        }
        segment.Reset();
        var cache = t_cache ??= new BufferSegment[ThreadCacheSize];
        if (t_count < ThreadCacheSize)
        {
            cache[t_count++] = segment;
            return;
        }
        s_shared.TryAdd(segment);
    }

    /// <summary>Blocks kept beyond the threads' caches now.</summary>
    internal static int SharedCount => s_shared.Count;

    /// <summary>Lets go of the shared blocks no thread took since the last trim (the heartbeat's, once a second).</summary>
    internal static int TrimShared() => s_shared.Trim(keep: 0);
}

/// <summary>
/// The input buffer of a reader with <see cref="System.IO.Pipelines.PipeReader"/>'s contract (<see cref="EpollPipeReader"/>,
/// <see cref="Tls.TlsPipeReader"/>): blocks filled at the tail, consumed from the head by AdvanceTo, and where the last
/// result ended, so that an AdvanceTo that examined everything makes the next read wait for new bytes. A mutable
/// struct: keep it in a field and use it in place.
/// </summary>
internal struct ReadChain
{
    public BufferSegment? Head;
    public int HeadIndex;
    public BufferSegment? Tail;
    private BufferSegment? _resultEnd;
    private int _resultEndIndex;
    /// <summary>The last result was examined to its end: only new bytes make a new result.</summary>
    public bool ExaminedAll;

    public readonly long Unconsumed => Head is null ? 0 : Tail!.RunningIndex + Tail.End - (Head.RunningIndex + HeadIndex);

    /// <summary>Appends a filled block (new bytes).</summary>
    public void Append(BufferSegment block)
    {
        if (Tail is null)
        {
            Head = block;
            HeadIndex = 0;
        }
        else
        {
            Tail.SetNext(block);
        }
        Tail = block;
        ExaminedAll = false;
    }

    public System.IO.Pipelines.ReadResult Result(bool canceled, bool completed)
    {
        if (Head is null)
        {
            _resultEnd = null;
            return new System.IO.Pipelines.ReadResult(default, canceled, completed);
        }
        var tail = Tail!;
        _resultEnd = tail;
        _resultEndIndex = tail.End;
        return new System.IO.Pipelines.ReadResult(new ReadOnlySequence<byte>(Head, HeadIndex, tail, tail.End), canceled, completed);
    }

    /// <summary>PipeReader.AdvanceTo: blocks wholly consumed go back to the pool.</summary>
    public void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (Head is null)
        {
            ExaminedAll = true;
            return;
        }
        // Positions come from the buffer this chain handed out: their object is one of its segments (or null).
        var consumedObject = consumed.GetObject();
        if (consumedObject is not null)
        {
            var consumedSegment = Unsafe.As<BufferSegment>(consumedObject);
            while (!ReferenceEquals(Head, consumedSegment))
            {
                var next = Head!.NextSegment
                    ?? throw new InvalidOperationException("The consumed position is not in the buffer of the last read.");
                BufferSegment.Return(Head);
                Head = next;
            }
            HeadIndex = consumed.GetInteger();
            if (HeadIndex == Head.End && !ReferenceEquals(Head, Tail))
            {
                var next = Head.NextSegment!;
                BufferSegment.Return(Head);
                Head = next;
                HeadIndex = 0;
            }
        }
        var examinedSegment = examined.GetObject();
        ExaminedAll = examinedSegment is null || (ReferenceEquals(examinedSegment, _resultEnd) && examined.GetInteger() == _resultEndIndex);
    }

    /// <summary>Every block back to the pool.</summary>
    public void Release()
    {
        BufferSegment.ReturnChain(Head);
        Head = Tail = _resultEnd = null;
        HeadIndex = 0;
    }
}

/// <summary>
/// A <see cref="System.IO.Pipelines.PipeWriter"/> that buffers in a <see cref="BlockChain"/> until its flush sends the
/// blocks on (to a socket: <see cref="EpollPipeWriter"/>; into a TLS stream: <see cref="Tls.TlsPipeWriter"/>). The
/// buffering half both share; each flushes its own way.
/// </summary>
internal abstract class BlockPipeWriter : System.IO.Pipelines.PipeWriter
{
    // What is written and not yet sent; used in place by the derived writer's flush.
    private protected BlockChain _buffer;
    private protected long _unflushed;

    public bool HasBuffered => _buffer.HasData;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _unflushed;

    public override Memory<byte> GetMemory(int sizeHint = 0) => _buffer.EnsureTail(sizeHint).FreeMemory;

    public override Span<byte> GetSpan(int sizeHint = 0) => _buffer.EnsureTail(sizeHint).FreeSpan;

    public override void Advance(int bytes)
    {
        if (bytes == 0)
        {
            return;
        }
        _buffer.Advance(bytes);
        _unflushed += bytes;
    }

    /// <summary>Every block back to the pool.</summary>
    internal void ReleaseBlocks() => _buffer.Release();
}

/// <summary>
/// A chain of pooled blocks written at the tail and consumed from the head: the output buffer of a connection
/// (<see cref="EpollPipeWriter"/>) and of a TLS session (<see cref="Tls.TlsPipeWriter"/>).
/// </summary>
internal struct BlockChain
{
    public BufferSegment? Head;
    public BufferSegment? Tail;
    /// <summary>Bytes of <see cref="Head"/> already consumed (sent).</summary>
    public int HeadIndex;

    public readonly bool HasData => Head is not null && (!ReferenceEquals(Head, Tail) || HeadIndex < Head.End);

    /// <summary>Bytes written and not yet consumed.</summary>
    public readonly long Length => Head is null ? 0 : Tail!.RunningIndex + Tail.End - (Head.RunningIndex + HeadIndex);

    /// <summary>The tail block, with at least <paramref name="sizeHint"/> free bytes (a new block when needed).</summary>
    public BufferSegment EnsureTail(int sizeHint)
    {
        int needed = Math.Max(sizeHint, 1);
        var tail = Tail;
        if (tail is not null && tail.Free >= needed)
        {
            return tail;
        }
        var block = BufferSegment.Rent(needed);
        if (tail is null || !HasData)
        {
            if (tail is not null)
            {
                BufferSegment.Return(tail); // all of it consumed: start over in a fresh block
            }
            Head = block;
            HeadIndex = 0;
        }
        else
        {
            tail.SetNext(block);
        }
        Tail = block;
        return block;
    }

    /// <summary>Commits <paramref name="bytes"/> written into the tail's free space.</summary>
    public readonly void Advance(int bytes)
    {
        var tail = Tail ?? throw new InvalidOperationException("Advance without GetMemory or GetSpan.");
        if ((uint)bytes > (uint)tail.Free)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes));
        }
        tail.Grow(bytes);
    }

    /// <summary>Every block back to the pool.</summary>
    public void Release()
    {
        BufferSegment.ReturnChain(Head);
        Head = Tail = null;
        HeadIndex = 0;
    }
}
