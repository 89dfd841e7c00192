namespace FastProxy.Config;

/// <summary>nginx's value syntaxes: sizes (ngx_parse_size), times (ngx_parse_time), numbers and flags.</summary>
internal static class ConfigValues
{
    /// <summary>ngx_parse_size/ngx_parse_offset: a number with an optional k/K, m/M or g/G suffix (binary units).</summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        if (text.Length == 0)
        {
            return false;
        }
        long scale = 1;
        var digits = text.AsSpan();
        switch (text[^1])
        {
            case 'k' or 'K':
                scale = 1024;
                digits = digits[..^1];
                break;
            case 'm' or 'M':
                scale = 1024 * 1024;
                digits = digits[..^1];
                break;
            case 'g' or 'G':
                scale = 1024L * 1024 * 1024;
                digits = digits[..^1];
                break;
        }
        if (!TryParseNonNegative(digits, out long value) || value > long.MaxValue / scale)
        {
            return false;
        }
        bytes = value * scale;
        return true;
    }

    /// <summary>
    /// ngx_parse_time: units y M w d h m s ms in that order, each at most once ("1h30m", "1h 30m"); a bare number is
    /// seconds. Milliseconds are refused where nginx keeps seconds (<paramref name="secondsOnly"/>).
    /// </summary>
    public static bool TryParseTime(string text, out TimeSpan time, bool secondsOnly = false)
    {
        time = TimeSpan.Zero;
        const long Second = 1000;
        ReadOnlySpan<(string Unit, long Ms)> units =
        [
            ("y", 365 * 24 * 3600 * Second), ("M", 30 * 24 * 3600 * Second), ("w", 7 * 24 * 3600 * Second),
            ("d", 24 * 3600 * Second), ("h", 3600 * Second), ("m", 60 * Second), ("s", Second), ("ms", 1),
        ];
        long total = 0;
        int lastUnit = -1;
        int i = 0;
        bool any = false;
        while (i < text.Length)
        {
            if (text[i] == ' ')
            {
                i++;
                continue;
            }
            int start = i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
            if (i == start || !TryParseNonNegative(text.AsSpan(start, i - start), out long value))
            {
                return false;
            }
            any = true;
            int unit;
            if (i == text.Length || text[i] == ' ')
            {
                unit = 6; // seconds
                if (lastUnit >= unit)
                {
                    return false;
                }
            }
            else
            {
                unit = -1;
                if (text[i] == 'm' && i + 1 < text.Length && text[i + 1] == 's')
                {
                    unit = 7;
                    i += 2;
                }
                else
                {
                    for (int u = 0; u < 7; u++)
                    {
                        if (text[i] == units[u].Unit[0])
                        {
                            unit = u;
                            break;
                        }
                    }
                    i++;
                }
                if (unit < 0 || unit <= lastUnit || (secondsOnly && unit == 7))
                {
                    return false;
                }
            }
            lastUnit = unit;
            if (value > int.MaxValue || value * units[unit].Ms / units[unit].Ms != value)
            {
                return false;
            }
            total += value * units[unit].Ms;
            // nginx keeps msec values in an ngx_msec_t and rejects what does not fit in 31 bits.
            if (total > int.MaxValue && !secondsOnly)
            {
                return false;
            }
        }
        if (!any)
        {
            return false;
        }
        time = TimeSpan.FromMilliseconds(total);
        return true;
    }

    /// <summary>ngx_atoi: decimal digits only, no sign.</summary>
    public static bool TryParseNonNegative(ReadOnlySpan<char> text, out long value)
    {
        value = 0;
        if (text.IsEmpty)
        {
            return false;
        }
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c) || value > (long.MaxValue - 9) / 10)
            {
                return false;
            }
            value = value * 10 + (c - '0');
        }
        return true;
    }

    public static bool TryParseInt(string text, out int value)
    {
        value = 0;
        if (!TryParseNonNegative(text, out long v) || v > int.MaxValue)
        {
            return false;
        }
        value = (int)v;
        return true;
    }

    /// <summary>ngx_conf_set_flag_slot: "on" or "off", case-insensitively.</summary>
    public static bool? ParseFlag(string text) =>
        string.Equals(text, "on", StringComparison.OrdinalIgnoreCase) ? true
        : string.Equals(text, "off", StringComparison.OrdinalIgnoreCase) ? false
        : null;
}
