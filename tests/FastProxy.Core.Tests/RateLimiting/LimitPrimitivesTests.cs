using System.Buffers.Binary;

namespace FastProxy.RateLimiting.Tests;

public class LimitPrimitivesTests
{
    private const ulong RefK0 = 0x0706050403020100UL;   // the reference key 00 01 .. 0f, little-endian
    private const ulong RefK1 = 0x0f0e0d0c0b0a0908UL;

    private static byte[] Message(int length) => Enumerable.Range(0, length).Select(i => (byte)i).ToArray();

    [Theory]
    [InlineData(0, 0x726fdb47dd0e0e31UL)]   // vectors.h, vectors_sip64[0]
    [InlineData(15, 0xa129ca6149be45e5UL)]  // the SipHash paper's example (message 00..0e)
    public void Hash24_ReferenceVectors_Match(int length, ulong expected)
    {
        Assert.Equal(expected, SipHash.Hash24(RefK0, RefK1, Message(length)));
    }

    [Theory]
    [InlineData(0, "a3817f04ba25a8e66df67214c7550293")]   // vectors.h, vectors_sip128[0]
    [InlineData(1, "da87c1d86b99af44347659119b22fc45")]   // vectors_sip128[1]
    public void Hash24x128_ReferenceVectors_Match(int length, string expectedHex)
    {
        SipHash.Hash24x128(RefK0, RefK1, Message(length), out ulong lo, out ulong hi);
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, lo);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), hi);

        Assert.Equal(expectedHex, Convert.ToHexStringLower(bytes));
    }

    [Fact]
    public void Hash13Short_EveryLengthUpTo16_EqualsHash13OverTheBytes()
    {
        var random = new Random(42);
        for (int length = 0; length <= 16; length++)
        {
            for (int trial = 0; trial < 20; trial++)
            {
                var bytes = new byte[16];
                random.NextBytes(bytes.AsSpan(0, length));
                ulong k0 = (ulong)random.NextInt64(), k1 = (ulong)random.NextInt64();

                Assert.Equal(
                    SipHash.Hash13(k0, k1, bytes.AsSpan(0, length)),
                    SipHash.Hash13Short(k0, k1, BinaryPrimitives.ReadUInt64LittleEndian(bytes), BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8)), length));
            }
        }
    }

    [Fact]
    public void Hash13_EveryLengthAndKey_IsDeterministicAndSpreads()
    {
        var seen = new HashSet<ulong>();
        for (int length = 0; length <= 64; length++)
        {
            ulong h = SipHash.Hash13(RefK0, RefK1, Message(length));
            Assert.Equal(h, SipHash.Hash13(RefK0, RefK1, Message(length)));
            Assert.True(seen.Add(h));
            Assert.NotEqual(h, SipHash.Hash13(RefK0 + 1, RefK1, Message(length)));
        }
    }

    [Theory]
    [InlineData("1r/s", 1000)]
    [InlineData("10r/s", 10000)]
    [InlineData("1r/m", 16)]
    [InlineData("30r/m", 500)]
    [InlineData("5", 5000)]
    public void TryParse_NginxRate_StoresMilliRequestsPerSecondLikeNginx(string text, long milli)
    {
        Assert.True(LimitRate.TryParse(text, out LimitRate rate));
        Assert.Equal(milli, rate.MilliPerSecond);
    }

    [Theory]
    [InlineData("")]
    [InlineData("r/s")]
    [InlineData("0r/s")]
    [InlineData("-1r/s")]
    [InlineData("1.5r/s")]
    [InlineData("1 r/s")]
    [InlineData("1r/h")]
    [InlineData("99999999999r/s")]
    public void TryParse_InvalidRate_Fails(string text)
    {
        Assert.False(LimitRate.TryParse(text, out _));
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(10_000_000)]       // Windows Stopwatch
    [InlineData(1_000_000_000)]    // Linux Stopwatch
    [InlineData(1_234_567)]        // not a whole number of ticks per millisecond
    public void NowMs_AnyFrequency_CountsMillisecondsSinceCreation(long frequency)
    {
        var time = new ManualTimeProvider(frequency, startTicks: 123_456_789);
        var clock = new LimitClock(time);
        Assert.Equal(0, clock.NowMs());

        time.AdvanceTicks(frequency * 90);          // 90 s
        Assert.Equal(90_000, clock.NowMs());
        time.AdvanceTicks((3 * frequency + 999) / 1000);   // the first tick at or after 3 ms
        Assert.Equal(90_003, clock.NowMs());
    }

    [Fact]
    public void NowMs_LongUptimeAtNanosecondFrequency_DoesNotOverflow()
    {
        var time = new ManualTimeProvider(1_000_000_000);
        var clock = new LimitClock(time);

        time.AdvanceTicks(200L * 24 * 3600 * 1_000_000_000);   // 200 days

        Assert.Equal(200L * 24 * 3600 * 1000, clock.NowMs());
    }
}
