using System.Buffers;
using System.Text;

namespace FastProxy.Http1.Tests;

/// <summary>Builds <see cref="ReadOnlySequence{T}"/> inputs of one or many segments from bytes.</summary>
internal static class TestSequences
{
    /// <summary>Latin-1, so that "\x80".."\xFF" in a test string become single obs-text bytes.</summary>
    public static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    public static string Text(in ReadOnlySequence<byte> bytes) => Encoding.Latin1.GetString(bytes.ToArray());

    public static ReadOnlySequence<byte> Single(byte[] data) => new(data.ToArray());

    /// <summary>One segment per part; each segment is its own exactly-sized array, so reading past one cannot go unnoticed.</summary>
    public static ReadOnlySequence<byte> FromSegments(params byte[][] parts)
    {
        if (parts.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }
        var first = new Segment(parts[0].ToArray(), 0);
        Segment last = first;
        for (int i = 1; i < parts.Length; i++)
        {
            last = last.Append(parts[i].ToArray());
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Cuts <paramref name="data"/> at the given ascending offsets (empty segments allowed).</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        var parts = new List<byte[]>();
        int previous = 0;
        foreach (int cut in cuts)
        {
            parts.Add(data[previous..cut]);
            previous = cut;
        }
        parts.Add(data[previous..]);
        return FromSegments(parts.ToArray());
    }

    public static ReadOnlySequence<byte> BytePerSegment(byte[] data)
        => FromSegments(data.Select(b => new[] { b }).ToArray());

    /// <summary>Random cut points, a few of them empty segments.</summary>
    public static ReadOnlySequence<byte> RandomSplit(byte[] data, Random random)
    {
        int count = random.Next(0, Math.Min(data.Length, 8) + 1);
        var cuts = new int[count];
        for (int i = 0; i < count; i++)
        {
            cuts[i] = random.Next(0, data.Length + 1);
        }
        Array.Sort(cuts);
        return Split(data, cuts);
    }

    public static long Offset(in ReadOnlySequence<byte> input, SequencePosition position)
        => input.Slice(input.Start, position).Length;

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data, long runningIndex)
        {
            Memory = data;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] data)
        {
            var next = new Segment(data, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
