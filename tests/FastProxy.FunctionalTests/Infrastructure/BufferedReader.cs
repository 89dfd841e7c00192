using System.Text;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>A small buffered reader over a stream for test clients and backends: heads, exact lengths, chunked bodies.</summary>
public sealed class BufferedReader(Stream stream)
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public Stream Stream { get; } = stream;

    public int Buffered => _end - _start;

    private async Task<bool> FillAsync(CancellationToken cancellationToken = default)
    {
        if (_start > 0 && _start == _end)
        {
            _start = _end = 0;
        }
        if (_end == _buffer.Length)
        {
            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        int n = await Stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        if (n == 0)
        {
            return false;
        }
        _end += n;
        return true;
    }

    /// <summary>Reads up to and including CRLF CRLF; null on a clean end of stream before any byte.</summary>
    public async Task<string?> ReadHeadAsync(CancellationToken cancellationToken = default)
    {
        int scanned = 0; // bytes after _start already searched
        while (true)
        {
            int from = Math.Max(0, scanned - 3);
            int idx = _buffer.AsSpan(_start + from, _end - _start - from).IndexOf("\r\n\r\n"u8);
            if (idx >= 0)
            {
                int end = _start + from + idx + 4;
                var head = Encoding.Latin1.GetString(_buffer, _start, end - _start);
                _start = end;
                return head;
            }
            scanned = _end - _start;
            if (!await FillAsync(cancellationToken))
            {
                if (scanned == 0)
                {
                    return null;
                }
                throw new IOException($"stream ended inside a head: {Encoding.Latin1.GetString(_buffer, _start, _end - _start)}");
            }
        }
    }

    public async Task<string?> ReadLineAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            int idx = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8);
            if (idx >= 0)
            {
                var line = Encoding.Latin1.GetString(_buffer, _start, idx);
                _start += idx + 2;
                return line;
            }
            if (!await FillAsync(cancellationToken))
            {
                return null;
            }
        }
    }

    public async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken = default)
    {
        var result = new byte[count];
        int filled = 0;
        while (filled < count)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
            {
                throw new IOException($"stream ended after {filled} of {count} bytes");
            }
            int n = Math.Min(count - filled, _end - _start);
            Array.Copy(_buffer, _start, result, filled, n);
            _start += n;
            filled += n;
        }
        return result;
    }

    /// <summary>Reads and counts <paramref name="count"/> bytes without keeping them.</summary>
    public async Task SkipExactlyAsync(long count, CancellationToken cancellationToken = default)
    {
        long left = count;
        while (left > 0)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
            {
                throw new IOException($"stream ended with {left} of {count} bytes missing");
            }
            int n = (int)Math.Min(left, _end - _start);
            _start += n;
            left -= n;
        }
    }

    public async Task<byte[]> ReadChunkedAsync(CancellationToken cancellationToken = default)
    {
        var body = new MemoryStream();
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken) ?? throw new IOException("stream ended in chunked body");
            int semi = line.IndexOf(';');
            int size = Convert.ToInt32(semi < 0 ? line : line[..semi], 16);
            if (size == 0)
            {
                // trailers until empty line
                while (true)
                {
                    var t = await ReadLineAsync(cancellationToken) ?? throw new IOException("stream ended in trailers");
                    if (t.Length == 0)
                    {
                        return body.ToArray();
                    }
                }
            }
            body.Write(await ReadExactlyAsync(size, cancellationToken));
            var crlf = await ReadLineAsync(cancellationToken);
            if (crlf != string.Empty)
            {
                throw new IOException("bad chunk end");
            }
        }
    }

    /// <summary>Reads until the peer closes; returns everything read (and whether it ended by an error such as RST).</summary>
    public async Task<(byte[] Data, bool Reset)> ReadToEndAsync(CancellationToken cancellationToken = default)
    {
        var all = new MemoryStream();
        all.Write(_buffer, _start, _end - _start);
        _start = _end = 0;
        try
        {
            while (true)
            {
                int n = await Stream.ReadAsync(_buffer, cancellationToken);
                if (n == 0)
                {
                    return (all.ToArray(), false);
                }
                all.Write(_buffer, 0, n);
            }
        }
        catch (IOException)
        {
            return (all.ToArray(), true);
        }
    }

    /// <summary>Takes whatever is buffered (used after an upgrade).</summary>
    public byte[] TakeBuffered()
    {
        var data = _buffer.AsSpan(_start, _end - _start).ToArray();
        _start = _end = 0;
        return data;
    }
}
