namespace FastProxy.LoadBalancing;

/// <summary>
/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: the zlib/nginx one), split into init/update/final as
/// nginx's ngx_crc32_init/update/final so that hash keys and ring points come out exactly as nginx computes them.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = CreateTable();

    public const uint Init = 0xFFFFFFFF;

    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] table = Table;
        foreach (byte b in data)
        {
            crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        return crc;
    }

    public static uint Final(uint crc) => crc ^ 0xFFFFFFFF;

    public static uint Compute(ReadOnlySpan<byte> data) => Final(Update(Init, data));

    private static uint[] CreateTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
        return table;
    }
}
