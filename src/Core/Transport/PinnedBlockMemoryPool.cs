using System.Buffers;
using System.Collections.Concurrent;

namespace FastProxy.Transport;

/// <summary>
/// A pool of fixed-size blocks allocated on the pinned object heap. Pipes rent their segments here, so a socket
/// operation never has to pin a buffer (no GCHandle per receive or send) and a rented block is never moved by the GC.
/// Blocks are returned to the pool, never freed: the pool's footprint is the peak number of bytes in flight, as with
/// Kestrel's PinnedBlockMemoryPool.
/// </summary>
internal sealed class PinnedBlockMemoryPool : MemoryPool<byte>
{
    /// <summary>
    /// 16 KiB: large enough that streaming a big body costs few syscalls (nginx's proxy_buffers are 8 × 4k|8k; one
    /// 16 KiB receive is fewer wake-ups than four 4 KiB ones), small enough that a pipe's 64 KiB pause threshold is a
    /// few blocks.
    /// </summary>
    public const int DefaultBlockSize = 16 * 1024;

    private readonly ConcurrentQueue<Block> _blocks = new();
    private readonly int _blockSize;
    private int _disposed;

    public PinnedBlockMemoryPool(int blockSize = DefaultBlockSize) => _blockSize = blockSize;

    public override int MaxBufferSize => _blockSize;

    public static new PinnedBlockMemoryPool Shared { get; } = new();

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > _blockSize)
        {
            // Pipe never asks for more than MaxBufferSize from a pool; anything else is a bug in the caller.
            throw new ArgumentOutOfRangeException(nameof(minBufferSize));
        }
        if (_blocks.TryDequeue(out var block))
        {
            return block;
        }
        return new Block(this, GC.AllocateUninitializedArray<byte>(_blockSize, pinned: true));
    }

    private void Return(Block block)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            _blocks.Enqueue(block);
        }
    }

    protected override void Dispose(bool disposing) => Interlocked.Exchange(ref _disposed, 1);

    private sealed class Block(PinnedBlockMemoryPool pool, byte[] array) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = array;

        public void Dispose() => pool.Return(this);
    }
}
