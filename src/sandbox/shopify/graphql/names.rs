//! The field names the bulk renderer knows, as one small enum. A month of a large
//! store renders a hundred scalar and object fields per order; each export's plans
//! (see `jsonl`) name their fields once here, so values are found by matching an
//! integer rather than by comparing names per value.

macro_rules! names {
    ($($variant:ident = $text:literal,)*) => {
        /// A field name of the sandbox's schema ([`Name::Other`]: any other).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Name {
            $($variant,)*
            Other,
        }

        impl Name {
            /// The name for `text`, [`Name::Other`] when no resolver reads it.
            pub fn of(text: &str) -> Name {
                match text {
                    $($text => Name::$variant,)*
                    _ => Name::Other,
                }
            }

            /// The field name as written in queries.
            #[cfg(test)]
            pub fn text(self) -> &'static str {
                match self {
                    $(Name::$variant => $text,)*
                    Name::Other => "",
                }
            }
        }
    };
}

names! {
    Address1 = "address1",
    Amount = "amount",
    AmountSet = "amountSet",
    AmountSpent = "amountSpent",
    BillingAddress = "billingAddress",
    CancelReason = "cancelReason",
    CancelledAt = "cancelledAt",
    City = "city",
    Closed = "closed",
    ClosedAt = "closedAt",
    ConsentUpdatedAt = "consentUpdatedAt",
    CountryCodeV2 = "countryCodeV2",
    CreatedAt = "createdAt",
    CurrencyCode = "currencyCode",
    CurrentQuantity = "currentQuantity",
    CurrentSubtotalPriceSet = "currentSubtotalPriceSet",
    CurrentTotalDiscountsSet = "currentTotalDiscountsSet",
    CurrentTotalPriceSet = "currentTotalPriceSet",
    CurrentTotalTaxSet = "currentTotalTaxSet",
    Customer = "customer",
    DefaultAddress = "defaultAddress",
    DiscountCodes = "discountCodes",
    DiscountedTotalSet = "discountedTotalSet",
    DisplayFinancialStatus = "displayFinancialStatus",
    DisplayFulfillmentStatus = "displayFulfillmentStatus",
    DisplayName = "displayName",
    Email = "email",
    EmailMarketingConsent = "emailMarketingConsent",
    ErrorCode = "errorCode",
    FirstName = "firstName",
    Gateway = "gateway",
    Handle = "handle",
    Id = "id",
    Kind = "kind",
    LastName = "lastName",
    LastOrder = "lastOrder",
    LegacyResourceId = "legacyResourceId",
    LineItem = "lineItem",
    LineItems = "lineItems",
    MarketingOptInLevel = "marketingOptInLevel",
    MarketingState = "marketingState",
    Name = "name",
    Note = "note",
    Number = "number",
    NumberOfOrders = "numberOfOrders",
    OrderAdjustments = "orderAdjustments",
    OriginalTotalSet = "originalTotalSet",
    OriginalUnitPriceSet = "originalUnitPriceSet",
    Phone = "phone",
    PresentmentCurrencyCode = "presentmentCurrencyCode",
    PresentmentMoney = "presentmentMoney",
    Price = "price",
    PriceSet = "priceSet",
    ProcessedAt = "processedAt",
    Product = "product",
    ProductType = "productType",
    ProvinceCode = "provinceCode",
    Quantity = "quantity",
    Rate = "rate",
    RatePercentage = "ratePercentage",
    Reason = "reason",
    RefundLineItems = "refundLineItems",
    RefundableQuantity = "refundableQuantity",
    Refunds = "refunds",
    RestockType = "restockType",
    Restocked = "restocked",
    ShippingAddress = "shippingAddress",
    ShopMoney = "shopMoney",
    Sku = "sku",
    SourceName = "sourceName",
    State = "state",
    Status = "status",
    SubtotalPriceSet = "subtotalPriceSet",
    SubtotalSet = "subtotalSet",
    Tags = "tags",
    TaxAmountSet = "taxAmountSet",
    TaxExempt = "taxExempt",
    TaxLines = "taxLines",
    Taxable = "taxable",
    TaxesIncluded = "taxesIncluded",
    Test = "test",
    Title = "title",
    TotalDiscountSet = "totalDiscountSet",
    TotalDiscountsSet = "totalDiscountsSet",
    TotalPriceSet = "totalPriceSet",
    TotalRefundedSet = "totalRefundedSet",
    TotalRefundedShippingSet = "totalRefundedShippingSet",
    TotalShippingPriceSet = "totalShippingPriceSet",
    TotalTaxSet = "totalTaxSet",
    Transactions = "transactions",
    UpdatedAt = "updatedAt",
    Variant = "variant",
    Vendor = "vendor",
    VerifiedEmail = "verifiedEmail",
    Zip = "zip",
}

#[cfg(test)]
mod tests {
    use super::Name;

    #[test]
    fn names_read_back_as_their_text_and_unknown_names_are_other() {
        for text in [
            "id",
            "legacyResourceId",
            "countryCodeV2",
            "address1",
            "totalRefundedShippingSet",
        ] {
            assert_eq!(Name::of(text).text(), text);
            assert_ne!(Name::of(text), Name::Other);
        }
        assert_eq!(
            Name::of("ID"),
            Name::Other,
            "names are case-sensitive, as GraphQL's"
        );
        assert_eq!(Name::of("noSuchField"), Name::Other);
        assert_ne!(Name::of("createdAt"), Name::of("updatedAt"));
    }
}
