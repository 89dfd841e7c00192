using System.Globalization;

namespace FastProxy.RateLimiting;

/// <summary>
/// A limit_req_zone rate, kept as nginx keeps it: milli-requests per second, <c>rate * 1000 / scale</c> with integer
/// division (so <c>1r/m</c> is 16, i.e. one request every 62.5 s, exactly as in nginx).
/// </summary>
internal readonly record struct LimitRate
{
    /// <summary>Upper bound that keeps <c>rate * ms</c> inside 64 bits (about a million requests per second).</summary>
    public const long MaxMilliPerSecond = 1L << 30;

    public LimitRate(long milliPerSecond)
    {
        if (milliPerSecond < 1 || milliPerSecond > MaxMilliPerSecond)
        {
            throw new ArgumentOutOfRangeException(nameof(milliPerSecond), milliPerSecond, "The rate is out of range.");
        }

        MilliPerSecond = milliPerSecond;
    }

    /// <summary>Milli-requests per second (1000 = 1r/s).</summary>
    public long MilliPerSecond { get; }

    public static LimitRate PerSecond(int requests) => new((long)requests * 1000);

    public static LimitRate PerMinute(int requests) => new((long)requests * 1000 / 60);

    /// <summary>Parses the value of <c>rate=</c> as ngx_http_limit_req_zone does: <c>Nr/s</c>, <c>Nr/m</c>, or a bare
    /// <c>N</c> (per second), with N a positive integer.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out LimitRate rate)
    {
        rate = default;
        int scale = 1;
        if (text.EndsWith("r/s", StringComparison.Ordinal))
        {
            text = text[..^3];
        }
        else if (text.EndsWith("r/m", StringComparison.Ordinal))
        {
            scale = 60;
            text = text[..^3];
        }

        // ngx_atoi: digits only, no sign, no spaces.
        if (text.IsEmpty || text.ContainsAnyExceptInRange('0', '9')
            || !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n)
            || n <= 0 || n > MaxMilliPerSecond)
        {
            return false;
        }

        long milli = n * 1000 / scale;
        if (milli < 1 || milli > MaxMilliPerSecond)
        {
            return false;
        }

        rate = new LimitRate(milli);
        return true;
    }

    public override string ToString()
        => MilliPerSecond % 1000 == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{MilliPerSecond / 1000}r/s")
            : string.Create(CultureInfo.InvariantCulture, $"{MilliPerSecond}mr/s");
}
