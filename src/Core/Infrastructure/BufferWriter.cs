using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;

namespace FastProxy.Infrastructure;

/// <summary>
/// Writes bytes into an <see cref="IBufferWriter{T}"/> (a pipe) through a cached span, committing only when the span
/// runs out or at <see cref="Commit"/> (Kestrel's BufferWriter&lt;T&gt;). Heads are assembled straight in the pipe's
/// memory: no intermediate buffer, no string.
/// </summary>
internal ref struct BufferWriter
{
    private readonly IBufferWriter<byte> _output;
    private Span<byte> _span;
    private int _buffered;

    public BufferWriter(IBufferWriter<byte> output)
    {
        _output = output;
        _span = output.GetSpan();
        _buffered = 0;
    }

    /// <summary>Bytes written since the last commit.</summary>
    public readonly int Buffered => _buffered;

    /// <summary>Hands the written bytes to the underlying writer.</summary>
    public void Commit()
    {
        if (_buffered > 0)
        {
            _output.Advance(_buffered);
            _buffered = 0;
        }
        _span = default;
    }

    /// <summary>A contiguous span of at least <paramref name="count"/> bytes; follow with <see cref="Advance"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> GetSpan(int count)
    {
        if (_span.Length < count)
        {
            EnsureMore(count);
        }
        return _span;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Advance(int count)
    {
        _buffered += count;
        _span = _span[count..];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(scoped ReadOnlySpan<byte> source)
    {
        if (source.Length <= _span.Length)
        {
            source.CopyTo(_span);
            Advance(source.Length);
        }
        else
        {
            WriteMultiBuffer(source);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(byte value)
    {
        if (_span.Length == 0)
        {
            EnsureMore(1);
        }
        _span[0] = value;
        Advance(1);
    }

    public void WriteCrlf()
    {
        var span = GetSpan(2);
        span[0] = (byte)'\r';
        span[1] = (byte)'\n';
        Advance(2);
    }

    /// <summary>A field line: name ": " value CRLF.</summary>
    public void WriteField(scoped ReadOnlySpan<byte> name, scoped ReadOnlySpan<byte> value)
    {
        int total = name.Length + value.Length + 4;
        var span = GetSpan(total);
        name.CopyTo(span);
        span[name.Length] = (byte)':';
        span[name.Length + 1] = (byte)' ';
        value.CopyTo(span[(name.Length + 2)..]);
        span[total - 2] = (byte)'\r';
        span[total - 1] = (byte)'\n';
        Advance(total);
    }

    public void WriteNumber(long value)
    {
        var span = GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out int written);
        Advance(written);
    }

    public void WriteHex(long value)
    {
        var span = GetSpan(16);
        Utf8Formatter.TryFormat((ulong)value, span, out int written, new StandardFormat('x'));
        Advance(written);
    }

    private void EnsureMore(int count)
    {
        if (_buffered > 0)
        {
            _output.Advance(_buffered);
            _buffered = 0;
        }
        _span = _output.GetSpan(count);
    }

    private void WriteMultiBuffer(scoped ReadOnlySpan<byte> source)
    {
        while (source.Length > 0)
        {
            if (_span.Length == 0)
            {
                EnsureMore(1);
            }
            int n = Math.Min(_span.Length, source.Length);
            source[..n].CopyTo(_span);
            Advance(n);
            source = source[n..];
        }
    }
}
