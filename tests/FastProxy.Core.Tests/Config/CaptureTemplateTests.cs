namespace FastProxy.Config.Tests;

public sealed class CaptureTemplateTests
{
    [Theory]
    [InlineData("/cy/$1x", "/cy/|$1|x")]
    [InlineData("/$1_v2/$23", "/|$1|_v2/|$2|3")]
    [InlineData("${1}0", "$1|0")]
    public void Parse_DollarDigit_OneDigitCaptureThenText(string text, string expected)
    {
        var template = ValueTemplate.Parse(text);
        var parts = template.Parts.Select(p => p.IsLiteral ? p.Literal : "$" + p.Name);
        Assert.Equal(expected, string.Join("|", parts));
        Assert.All(template.Parts.Where(p => !p.IsLiteral), p => Assert.Equal(VariableKind.RegexCapture, p.Variable));
    }
}
