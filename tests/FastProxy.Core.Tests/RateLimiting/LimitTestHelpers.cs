using System.Buffers.Binary;

namespace FastProxy.RateLimiting.Tests;

internal static class LimitTestHelpers
{
    public static byte[] IPv4(byte a, byte b, byte c, byte d) => [a, b, c, d];

    public static byte[] IPv4(uint address)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, address);
        return bytes;
    }

    public static byte[] IPv6(ushort last)
    {
        var bytes = new byte[16];
        bytes[0] = 0x20;
        bytes[1] = 0x01;
        bytes[2] = 0x0d;
        bytes[3] = 0xb8;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(14), last);
        return bytes;
    }

    public static (ManualTimeProvider Time, LimitClock Clock) NewClock()
    {
        var time = new ManualTimeProvider();
        return (time, new LimitClock(time));
    }

    public static LimitReqZone ReqZone(LimitClock clock, LimitRate rate, long size = 1024 * 1024, string name = "one")
        => LimitReqZone.Create(name, size, "$binary_remote_addr", rate, clock);
}
