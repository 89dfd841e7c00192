namespace FastProxy.Config.Tests;

public sealed class ValueTests
{
    [Theory]
    [InlineData("0", 0L)]
    [InlineData("512", 512L)]
    [InlineData("512k", 512L * 1024)]
    [InlineData("512K", 512L * 1024)]
    [InlineData("10m", 10L * 1024 * 1024)]
    [InlineData("10M", 10L * 1024 * 1024)]
    [InlineData("1g", 1024L * 1024 * 1024)]
    public void TryParseSize_Valid_BinaryUnits(string text, long expected)
    {
        Assert.True(ConfigValues.TryParseSize(text, out long bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("m")]
    [InlineData("10x")]
    [InlineData("-1")]
    [InlineData("1.5m")]
    [InlineData("10 m")]
    public void TryParseSize_Invalid_ReturnsFalse(string text) => Assert.False(ConfigValues.TryParseSize(text, out _));

    [Theory]
    [InlineData("5", 5_000)]
    [InlineData("5s", 5_000)]
    [InlineData("500ms", 500)]
    [InlineData("1m", 60_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1h 30m", 5_400_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("1w", 604_800_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1s500ms", 1_500)]
    [InlineData("3600s", 3_600_000)]
    public void TryParseTime_Valid_AsNginx(string text, long expectedMs)
    {
        Assert.True(ConfigValues.TryParseTime(text, out var time));
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), time);
    }

    [Theory]
    [InlineData("")]
    [InlineData("s")]
    [InlineData("5x")]
    [InlineData("30m1h")]
    [InlineData("1s1s")]
    [InlineData("-5s")]
    [InlineData("1.5s")]
    [InlineData("100d")]
    public void TryParseTime_Invalid_ReturnsFalse(string text) => Assert.False(ConfigValues.TryParseTime(text, out _));

    [Fact]
    public void TryParseTime_MillisecondsWhereSecondsAreKept_ReturnsFalse() =>
        Assert.False(ConfigValues.TryParseTime("500ms", out _, secondsOnly: true));

    [Theory]
    [InlineData("on", true)]
    [InlineData("OFF", false)]
    [InlineData("yes", null)]
    public void ParseFlag_OnOff_CaseInsensitive(string text, bool? expected) => Assert.Equal(expected, ConfigValues.ParseFlag(text));
}
