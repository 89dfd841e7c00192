using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace FastProxy.RateLimiting;

/// <summary>
/// Keyed SipHash (Aumasson and Bernstein, 2012) over key bytes: SipHash-1-3 with a 64-bit result picks a key's
/// bucket and fingerprint, SipHash-2-4 with a 128-bit result stands in for keys too long to store inline.
/// </summary>
/// <remarks>
/// Limit keys are chosen by clients (their address, a header, an API key), so the bucket function must be a keyed
/// PRF: with a plain hash an attacker could aim many keys at one bucket and either evict other clients' states or,
/// for limit_conn, fill a bucket with held connections so a victim finds no slot. Each table draws its own random
/// 128-bit SipHash key. SipHash-1-3 is what Rust's standard HashMap uses against hash flooding; the full SipHash-2-4
/// with a 128-bit tag is used where the hash replaces the key itself, so that a collision needs ~2^64 work even
/// for someone who could observe outputs (they cannot: hashes never leave the process).
/// </remarks>
internal static class SipHash
{
    private const ulong C0 = 0x736f6d6570736575UL;
    private const ulong C1 = 0x646f72616e646f6dUL;
    private const ulong C2 = 0x6c7967656e657261UL;
    private const ulong C3 = 0x7465646279746573UL;

    /// <summary>SipHash-1-3, 64-bit tag.</summary>
    public static ulong Hash13(ulong k0, ulong k1, ReadOnlySpan<byte> data)
    {
        ulong v0 = k0 ^ C0, v1 = k1 ^ C1, v2 = k0 ^ C2, v3 = k1 ^ C3;
        int blocks = data.Length & ~7;
        for (int i = 0; i < blocks; i += 8)
        {
            ulong m = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i));
            v3 ^= m;
            Round(ref v0, ref v1, ref v2, ref v3);
            v0 ^= m;
        }

        ulong b = LastBlock(data, blocks);
        v3 ^= b;
        Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= b;
        v2 ^= 0xff;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /// <summary>
    /// SipHash-1-3 of a message of at most 16 bytes given as its zero-padded little-endian words: the same value as
    /// <see cref="Hash13"/> over the bytes, without touching them one by one (SipHash's last block is exactly the
    /// tail bytes, zero-padded, with the length in the top byte).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash13Short(ulong k0, ulong k1, ulong w0, ulong w1, int length)
    {
        ulong v0 = k0 ^ C0, v1 = k1 ^ C1, v2 = k0 ^ C2, v3 = k1 ^ C3;
        ulong last = (ulong)length << 56;
        if (length >= 8)
        {
            v3 ^= w0;
            Round(ref v0, ref v1, ref v2, ref v3);
            v0 ^= w0;
            if (length == 16)
            {
                v3 ^= w1;
                Round(ref v0, ref v1, ref v2, ref v3);
                v0 ^= w1;
            }
            else
            {
                last |= w1;
            }
        }
        else
        {
            last |= w0;
        }

        v3 ^= last;
        Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= last;
        v2 ^= 0xff;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /// <summary>SipHash-2-4, 64-bit tag (the reference function; used by the tests to check the rounds).</summary>
    public static ulong Hash24(ulong k0, ulong k1, ReadOnlySpan<byte> data)
    {
        ulong v0 = k0 ^ C0, v1 = k1 ^ C1, v2 = k0 ^ C2, v3 = k1 ^ C3;
        Compress24(ref v0, ref v1, ref v2, ref v3, data);
        v2 ^= 0xff;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /// <summary>SipHash-2-4, 128-bit tag: <paramref name="lo"/> holds output bytes 0..7, <paramref name="hi"/> 8..15.</summary>
    public static void Hash24x128(ulong k0, ulong k1, ReadOnlySpan<byte> data, out ulong lo, out ulong hi)
    {
        ulong v0 = k0 ^ C0, v1 = k1 ^ C1 ^ 0xee, v2 = k0 ^ C2, v3 = k1 ^ C3;
        Compress24(ref v0, ref v1, ref v2, ref v3, data);
        v2 ^= 0xee;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        lo = v0 ^ v1 ^ v2 ^ v3;
        v1 ^= 0xdd;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        hi = v0 ^ v1 ^ v2 ^ v3;
    }

    private static void Compress24(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3, ReadOnlySpan<byte> data)
    {
        int blocks = data.Length & ~7;
        for (int i = 0; i < blocks; i += 8)
        {
            ulong m = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i));
            v3 ^= m;
            Round(ref v0, ref v1, ref v2, ref v3);
            Round(ref v0, ref v1, ref v2, ref v3);
            v0 ^= m;
        }

        ulong b = LastBlock(data, blocks);
        v3 ^= b;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= b;
    }

    // The final block: the 0..7 trailing bytes little-endian, and the message length (mod 256) in the top byte.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LastBlock(ReadOnlySpan<byte> data, int offset)
    {
        ulong b = (ulong)data.Length << 56;
        ReadOnlySpan<byte> tail = data.Slice(offset);
        for (int i = 0; i < tail.Length; i++)
        {
            b |= (ulong)tail[i] << (8 * i);
        }

        return b;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v0 += v1; v1 = BitOperations.RotateLeft(v1, 13); v1 ^= v0; v0 = BitOperations.RotateLeft(v0, 32);
        v2 += v3; v3 = BitOperations.RotateLeft(v3, 16); v3 ^= v2;
        v0 += v3; v3 = BitOperations.RotateLeft(v3, 21); v3 ^= v0;
        v2 += v1; v1 = BitOperations.RotateLeft(v1, 17); v1 ^= v2; v2 = BitOperations.RotateLeft(v2, 32);
    }
}
